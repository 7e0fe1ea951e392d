"""Form entries through the API: read them, create them, change them, with the page's validation and services.

A body's items are checked for their JSON types by the instrument's models (`ecrf.api.item_models`, made from its
item declarations), then put through the instrument's own WTForms form exactly as a browser posts it
(`CrfForm.from_plain`): ranges, code lists, cross-field rules and plausibility warnings are the page's, with the
page's messages. What passes is saved by `save_entry`, as the page saves it.

- An entry's ETag is strong and made of its id and version counter; a change (PATCH) needs it as If-Match: without
  it 428, with an older one 412 naming who saved since (nothing is saved), with none of this entry's (a weak
  tag, another entry's) 412 saying so. `*` is not accepted: it would overwrite unseen changes.
- PATCH merges per item: an item named in `values` takes that value and loses its missing-data code, one named in
  `missing` takes that code and loses its value; the others keep what they have. `complete` left out keeps the
  entry's status; `confirmed_warnings` left out keeps those confirmed.
- A plausibility warning blocks completing (422, each warning at its item, with its code) until its code is sent
  in `confirmed_warnings`; a draft is saved with it, as on the page.
- A single form (one entry per visit) that already has an entry is not created again: 409 naming the entry.
- "None to report" marks of list forms are not entries here (404), as they have no page of their own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, request, url_for
from flask.views import MethodView
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.http import parse_etags, quote_etag

from ecrf.access import Action, entry_or_404, form_hidden, instrument_codes, require, visible_entries, visit_or_404
from ecrf.api.blueprint import bp
from ecrf.api.bodies import body_field, json_object, read_body
from ecrf.api.item_models import (
    EntryCreate,
    EntryList,
    EntryOut,
    EntryUpdate,
    MissingValue,
    SignatureOut,
    Stamp,
    computed_model,
    create_model_of,
    entry_model,
    sends,
    update_model,
    values_model,
)
from ecrf.api.paging import PageQuery, page
from ecrf.api.scope import Instant, changed_since_field, checked_first, subject_visible
from ecrf.api.spec import ERRORS, ApiError, Problems, spec
from ecrf.api.writing import Answer, IdempotencyHeaders, api_write
from ecrf.audit.models import audited_since
from ecrf.auth.models import User
from ecrf.crfs.context import FormContext
from ecrf.crfs.input import EntryInput
from ecrf.crfs.items import Item, Kind
from ecrf.crfs.models import CrfData, CrfEntry, EntryStatus, Signature
from ecrf.crfs.registry import Instrument, instrument, registry
from ecrf.crfs.services import EntryConflict, entry_data, form_context, initial_values, save_entry, signature_holds
from ecrf.extensions import db
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from ecrf.visits.services import visit_by_code

_WRITE_ERRORS = {**ERRORS, "HTTP_409": Problems}
_CODE_KINDS = (Kind.CHOICE, Kind.GRADED)


# -- ETags ---------------------------------------------------------------------------------------------------------


def etag_of(entry: CrfEntry) -> str:
    """The entry's strong ETag (quoted): its id and version counter."""
    return quote_etag(f"entry-{entry.id}-v{entry.version}")


class IfMatchHeaders(BaseModel):
    """The header a change needs (for the document)."""

    model_config = ConfigDict(populate_by_name=True)

    if_match: str = Field(alias="If-Match", description="the entry's ETag, as its GET gave it (without it 428; an older one 412)")


def _version_seen(entry: CrfEntry) -> int:
    """The version of the entry the client changes, from If-Match: 428 without one, 412 when no strong tag in it is
    this entry's (nonsense, a weak tag, another entry's)."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        raise ApiError.one(
            428,
            f"If-Match: required to change an entry; send its ETag (GET /api/v1/entries/{entry.id}) so that no change made since is overwritten.",
            "If-Match",
        )
    tags = parse_etags(header)
    if tags.star_tag:
        raise ApiError.one(428, "If-Match: * is not accepted; send the entry's ETag, so that no change made since is overwritten.", "If-Match")
    for tag in tags.as_set():
        match = re.fullmatch(rf"entry-{entry.id}-v(\d{{1,18}})", tag)
        if match:
            return int(match.group(1))
    raise ApiError.one(
        412,
        f"If-Match: not an ETag of entry {entry.id} (weak tags are not accepted); read the entry (GET /api/v1/entries/{entry.id}) for its ETag.",
        "If-Match",
    )


# -- reading -------------------------------------------------------------------------------------------------------


def entry_out(entry: CrfEntry, data: CrfData | None, item: Instrument, names: Mapping[int, str]) -> BaseModel:
    """An entry as the API reads it (`names`: the full names of the users it mentions, by id)."""
    values = {spec.name: getattr(data, spec.name, None) if data is not None else None for spec in item.items}
    model = item.model
    return entry_model(model)(
        id=entry.id,
        subject_code=entry.subject.subject_code,
        visit_code=entry.visit.definition.code,
        instrument=item.code,
        sequence=entry.sequence,
        status=entry.status,
        state=entry.state,
        version=entry.version,
        etag=etag_of(entry),
        values=values_model(model)(**{spec.name: values[spec.name] for spec in item.items.entered}),
        computed=computed_model(model)(**{spec.name: values[spec.name] for spec in item.items if spec.derived}),
        missing={name: MissingValue(code=given["code"], reason=given.get("reason") or "") for name, given in (entry.missing or {}).items()},
        confirmed_warnings=list(entry.confirmed_warnings or []),
        verified=Stamp(at=entry.verified_at, by=names.get(entry.verified_by_id or 0)) if entry.verified_at else None,
        signatures=[
            SignatureOut(
                signed_by=signature.printed_name,
                signed_at=signature.signed_at,
                meaning=signature.meaning,
                holds=signature_holds(signature, item, entry),
                voided_at=signature.voided_at,
                void_reason=signature.void_reason,
            )
            for signature in entry.signatures
        ],
        locked=Stamp(at=entry.locked_at, by=names.get(entry.locked_by_id or 0)) if entry.locked_at else None,
        created_at=entry.created_at,
        updated_at=entry.updated_at,
        updated_by=names.get(entry.updated_by_id or 0),
    )


def _names(entries: Iterable[CrfEntry]) -> dict[int, str]:
    ids = {user_id for entry in entries for user_id in (entry.updated_by_id, entry.verified_by_id, entry.locked_by_id) if user_id}
    return dict(db.session.execute(select(User.id, User.full_name).where(User.id.in_(ids))).tuples().all()) if ids else {}


def with_parts(stmt: Select) -> Select:
    """Load what `entry_out` reads with the entries (their subject, visit and its definition, signatures): a fixed
    number of queries, whatever their number."""
    return stmt.options(joinedload(CrfEntry.subject), joinedload(CrfEntry.visit).joinedload(Visit.definition), selectinload(CrfEntry.signatures))


def entries_out(entries: Sequence[CrfEntry]) -> list[BaseModel]:
    """Entries as the API reads them: one query per table for their data, one for the users they name."""
    data: dict[int, CrfData] = {}
    by_model: dict[type[CrfData], list[int]] = {}
    for entry in entries:
        by_model.setdefault(instrument(entry.instrument).model, []).append(entry.id)
    for model, ids in by_model.items():
        data |= {row.entry_id: row for row in db.session.scalars(select(model).where(model.entry_id.in_(ids)))}
    names = _names(entries)
    return [entry_out(entry, data.get(entry.id), instrument(entry.instrument), names) for entry in entries]


def _readable_entry(entry_id: int) -> CrfEntry:
    entry = entry_or_404(current_user, entry_id)
    if entry.none_reported:
        abort(404)
    return entry


class EntryQuery(PageQuery):
    """Filters of a subject's entries (all optional), and the page."""

    visit: str | None = Field(default=None, max_length=40, description="a visit code of the subject's protocol (m1, m3 ...)")
    instrument: str | None = Field(default=None, max_length=40, description="an instrument code (abi, villalta ...)")
    status: EntryStatus | None = None
    changed_since: Instant | None = changed_since_field("entries saved, verified, signed, locked or unlocked")


@bp.get("/subjects/<subject_code>/entries")
@checked_first(subject_visible, gives="subject")
@spec.validate(resp=Response(HTTP_200=EntryList, **ERRORS), tags=["entries"])
def subject_entries(subject_code: str, query: EntryQuery, subject: Subject):
    """A subject's form entries the user may see (a blinded assessor: the assessor forms only), oldest first."""
    stmt = select(CrfEntry).where(visible_entries(current_user, subject), CrfEntry.none_reported.is_(False))
    if query.visit is not None:
        visit = visit_by_code(subject, query.visit)
        if visit is None:
            codes = ", ".join(v.definition.code for v in subject.visits)
            raise ApiError.one(422, f"visit: {subject.subject_code} has no visit {query.visit!r}; its visits are {codes}.", "visit")
        stmt = stmt.where(CrfEntry.visit_id == visit.id)
    if query.instrument is not None:
        if query.instrument not in registry():
            raise ApiError.one(422, f"instrument: no instrument {query.instrument!r}; the codes are {', '.join(sorted(registry()))}.", "instrument")
        stmt = stmt.where(CrfEntry.instrument == query.instrument)
    if query.status is not None:
        stmt = stmt.where(CrfEntry.status == query.status)
    if query.changed_since is not None:
        stmt = stmt.where(_changed_since(query.changed_since))
    entries, next_cursor = page(with_parts(stmt), CrfEntry.id, query)
    return EntryList(items=entries_out(entries), next_cursor=next_cursor)


def _changed_since(since: datetime):
    """SQL: the entry was saved, or a signature of it made or voided, or anything of it changed in the audit trail
    (verified, locked, unlocked ...) at or after `since`."""
    signed = exists().where(Signature.entry_id == CrfEntry.id, or_(Signature.signed_at >= since, Signature.voided_at >= since))
    return or_(CrfEntry.updated_at >= since, signed, audited_since(CrfEntry, since))


# -- writing -------------------------------------------------------------------------------------------------------


def _explain(item: Instrument):
    """Words pydantic's refusals of an instrument's body: each item named with its label and what it takes."""
    items = item.items
    entered = set(items.entered_names())

    def explain(error: Mapping[str, Any]) -> tuple[str | None, str] | None:
        location = error.get("loc", ())
        if len(location) < 2 or location[0] not in ("values", "missing"):
            return None
        part, name = str(location[0]), str(location[1])
        field = f"{part}.{name}"
        if name not in items or (name not in entered and part == "missing"):
            known = ", ".join(items.entered_names())
            return field, f"{field}: {item.label} has no entered item {name!r}; its items are {known}."
        spec = items[name]
        if spec.derived:
            return field, f"{field}: {spec.label} is computed from {', '.join(spec.derived_from or ())}; it cannot be written: leave it out."
        if part == "missing":
            if error.get("type") == "extra_forbidden":
                return field, f"{field}: {spec.label} accepts no missing-data code; it must be answered."
            return None
        if error.get("type") == "value_error":  # the type is right, the value is not (a year outside the rule)
            return field, f"{field}: {spec.label}: {error['ctx']['error']}."
        return field, f"{field}: {spec.label}: not valid; send {sends(spec)}{_allowed(item, spec)}."

    return explain


def _allowed(item: Instrument, spec: Item) -> str:
    """The page's own words for what a number or text item takes (" (a whole number from 50 to 300 mmHg)")."""
    if spec.kind not in (Kind.INTEGER, Kind.DECIMAL, Kind.TEXT):
        return ""
    allowed = getattr(item.form, spec.name).kwargs.get("allowed")
    return f" ({allowed})" if allowed else ""


#: Problems found before the form runs, and the items they are about (the form's word on those is not added).
Early = tuple[list[tuple[str | None, str]], set[str]]


def _read(model: type[BaseModel], item: Instrument) -> tuple[Any, Early]:
    """The body read with the instrument's model. An item of the wrong JSON type (or not one of its entered items) is
    set aside with its problem, so that the form still judges the others and one answer names every field that is
    wrong; any other problem of the body is refused at once (422)."""
    body, problems, wrong = read_body(model, _explain(item), set_aside="values")
    return body, (problems, wrong)


def _given(model: BaseModel) -> dict[str, Any]:
    """The items a body names (by item name), with their values; null included."""
    return model.model_dump(mode="python", by_alias=True, exclude_unset=True)


def _local(values: dict[str, Any], context: FormContext) -> dict[str, Any]:
    """Instants as the page enters them: naive, in the site's local time (one without an offset already is)."""
    zone = ZoneInfo(context.timezone)
    return {name: value.astimezone(zone).replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value for name, value in values.items()}


def _with_codes(problems: Sequence[tuple[str | None, str]], item: Instrument) -> list[tuple[str | None, str]]:
    """The form's messages, with the codes of a code-list item added (the page lists its labels)."""
    found = []
    for field, message in problems:
        name = field.removeprefix("values.") if field and field.startswith("values.") else None
        if name is not None and name in item.items and item.items[name].kind in _CODE_KINDS:
            message = f"{message} Send {sends(item.items[name])}."
        found.append((field, message))
    return found


def _validated(
    item: Instrument,
    context: FormContext,
    values: Mapping[str, Any],
    missing: Mapping[str, Mapping[str, str]],
    *,
    confirmed_warnings: Sequence[str],
    reason_for_change: str,
    complete: bool,
    version_seen: int | None,
    early: Early,
) -> EntryInput:
    """The input for `save_entry` once the instrument's form (the page's) accepts it; 422 naming every problem (with
    those found `early`), and every warning to confirm before completing."""
    form = item.form.from_plain(values, missing, confirmed_warnings=confirmed_warnings, reason_for_change=reason_for_change, context=context)
    valid = form.validate_entry(complete)
    found, wrong = early
    if not valid or found:
        problems = found + [(field, message) for field, message in _with_codes(form.plain_errors(), item) if field not in {f"values.{name}" for name in wrong}]
        problems += [
            (f"values.{warning.field}", f"{warning.message} To keep the value, send the request again with {warning.code!r} in confirmed_warnings.")
            for warning in form.pending_warnings
        ]
        raise ApiError(422, problems)
    return replace(form.entry_input(complete, by=current_user), version_seen=version_seen)


def _both_given(values: Mapping[str, Any], missing: Mapping[str, Any], item: Instrument) -> None:
    both = [name for name, value in values.items() if value is not None and missing.get(name) is not None]
    if both:
        raise ApiError(
            422,
            [(f"values.{name}", f"values.{name}: {item.items.label(name)}: give a value or a missing-data code (missing.{name}), not both.") for name in both],
        )


def _saved(entry: CrfEntry, status: int = 200) -> Answer:
    [body] = entries_out([entry])
    headers = {"ETag": etag_of(entry)}
    if status == 201:
        headers["Location"] = url_for("api.entry", entry_id=entry.id)
    return Answer(body, status, headers)


def enterable_visit(subject_code: str, visit_code: str) -> Visit:
    """The visit, if the user sees its subject, a form of it, and the form the body names (else 404), and may enter
    data at its site (else 403), as on the visit's form pages. The form is checked here, before a repeated
    Idempotency-Key is answered: a user who may no longer see it (made a blinded assessor) never gets that answer."""
    visit = visit_or_404(current_user, subject_code, visit_code)
    subject = visit.subject
    if not instrument_codes(current_user, subject, visit) or form_hidden(current_user, subject, visit, body_field("instrument")):
        abort(404)
    require(current_user, Action.ENTER_DATA, subject.study_id, subject.site_id)
    return visit


def changeable_entry(entry_id: int) -> CrfEntry:
    """The entry, if the user sees it (else 404) and may enter data at its site (else 403), as on its page."""
    entry = _readable_entry(entry_id)
    require(current_user, Action.ENTER_DATA, entry.subject.study_id, entry.subject.site_id)
    return entry


@bp.post("/subjects/<subject_code>/visits/<visit_code>/entries")
@spec.validate(json=EntryCreate, headers=IdempotencyHeaders, resp=Response(HTTP_201=EntryOut, **_WRITE_ERRORS), tags=["entries"], skip_validation=True)
@api_write(check=enterable_visit, gives="visit", retry_races=True)
def create_entry(subject_code: str, visit_code: str, visit: Visit) -> Answer:
    """Enter a form at a visit, as a draft or complete (Idempotency-Key: a repeat makes no second entry). 201 with
    the entry, its ETag and its Location."""
    subject = visit.subject
    code = json_object().get("instrument")
    codes = instrument_codes(current_user, subject, visit)
    if code not in codes:
        raise ApiError.one(422, f"instrument: send the code of a form of visit {visit_code} you may enter: {', '.join(codes)}.", "instrument")
    item = instrument(code)
    if not item.repeating:
        existing = db.session.scalar(select(CrfEntry).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == code, CrfEntry.sequence == 1))
        if existing is not None:
            location = url_for("api.entry", entry_id=existing.id)
            raise ApiError.one(
                409, f"instrument: {item.label} already has an entry at visit {visit_code}: change it with PATCH {location} and its ETag.", "instrument"
            )
    body, early = _read(create_model_of(code), item)
    values, missing = _given(body.values), _given(body.missing)
    _both_given(values, missing, item)
    context = form_context(subject, visit)
    entered = _validated(
        item,
        context,
        _local(values, context),
        missing,
        confirmed_warnings=body.confirmed_warnings or [],
        reason_for_change="",
        complete=body.complete,
        version_seen=None,
        early=early,
    )
    return _saved(save_entry(visit, item, entered, entry=None), 201)


def update_entry(found: CrfEntry) -> Answer:
    """Change an entry through its form and `save_entry` (see `EntryResource.patch`)."""
    subject, visit, item = found.subject, found.visit, instrument(found.instrument)
    seen = _version_seen(found)
    body, early = _read(update_model(item.model), item)
    values, missing = _given(body.values), _given(body.missing)
    _both_given(values, missing, item)
    context = form_context(subject, visit)
    merged_values = {**initial_values(item, entry_data(item, found), context), **_local(values, context)}
    for name, given in missing.items():
        if given is not None:
            merged_values[name] = None
    merged_missing = {name: code for name, code in (found.missing or {}).items() if name not in values and name not in missing}
    merged_missing |= {name: given for name, given in missing.items() if given is not None}
    complete = body.complete if body.complete is not None else found.status is not EntryStatus.DRAFT
    confirmed = body.confirmed_warnings if body.confirmed_warnings is not None else list(found.confirmed_warnings or [])
    entered = _validated(
        item,
        context,
        merged_values,
        merged_missing,
        confirmed_warnings=confirmed,
        reason_for_change=body.reason_for_change,
        complete=complete,
        version_seen=seen,
        early=early,
    )
    try:
        saved = save_entry(visit, item, entered, entry=found)
    except EntryConflict as error:
        raise ApiError(412, [(None, f"If-Match: the entry is now {etag_of(found)}. {message}") for _, message in error.problems]) from error
    return _saved(saved)


class EntryResource(MethodView):
    """One entry: read (GET) and changed (PATCH) at one URL.

    One rule for both methods: werkzeug checks a rule's methods before it converts the id, so with a rule per method
    an id beyond `ecrf.guards.ID_MAX` (2**31 - 1) would be answered 405 (by the other method's rule) instead of 404.
    """

    @spec.validate(resp=Response(HTTP_200=EntryOut, **ERRORS), tags=["entries"])
    def get(self, entry_id: int):
        """One form entry: its items, computed values, missing-data codes, status, signature, verification and
        lock; its ETag in the ETag header."""
        found = _readable_entry(entry_id)
        [body] = entries_out([found])
        return EntryOut(body), 200, {"ETag": etag_of(found)}

    @spec.validate(
        json=EntryUpdate,
        headers=IfMatchHeaders,
        resp=Response(HTTP_200=EntryOut, HTTP_412=Problems, HTTP_428=Problems, **_WRITE_ERRORS),
        tags=["entries"],
        skip_validation=True,
    )
    @api_write(check=changeable_entry, gives="entry", retry_races=True)
    def patch(self, entry_id: int, entry: CrfEntry) -> Answer:
        """Change an entry (If-Match: its ETag; 428 without, 412 if it changed since). Items named in `values` or
        `missing` change, the others stay; a complete entry needs `reason_for_change`, and loses its verification
        and signature, as on the page. 200 with the entry and its new ETag."""
        return update_entry(entry)


bp.add_url_rule("/entries/<int:entry_id>", view_func=EntryResource.as_view("entry"))
