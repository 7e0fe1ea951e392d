"""Entering instrument forms: which forms a visit needs, and saving entries."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from ecrf.audit.trail import reason_of, set_reason
from ecrf.auth.models import User
from ecrf.auth.services import PasswordCheck
from ecrf.clock import now_utc, site_today
from ecrf.crfs.context import FormContext
from ecrf.crfs.input import EntryInput
from ecrf.crfs.models import CrfData, CrfEntry, EntryStatus, LifecycleError, Signature
from ecrf.crfs.registry import Instrument, instrument
from ecrf.db import lock_row, update_where
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.queries.services import open_query_count
from ecrf.signals import entry_saved
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit


class EntryConflict(InvalidInput):
    """A save based on an older version of the entry than the stored one: nothing was saved; the message says who
    saved since and where their values differ (the API answers it 412)."""


class FormStatus(StrEnum):
    """What the visit page shows for each form."""

    NOT_STARTED = "not started"
    DRAFT = "draft"
    COMPLETE = "complete"

    @property
    def css(self) -> str:
        return {"not started": "secondary", "draft": "warning", "complete": "success"}[self.value]


@dataclass
class VisitForm:
    """One instrument a visit needs, with its entries at that visit (and their data, for repeating ones)."""

    instrument: Instrument
    entries: list[CrfEntry]
    data: dict[int, CrfData] = field(default_factory=dict)

    def describe(self, entry: CrfEntry) -> str:
        """One line about an entry of a repeating instrument."""
        data = self.data.get(entry.id)
        return self.instrument.describe(data) if data is not None else ""

    @property
    def signable(self) -> list[CrfEntry]:
        """Complete entries not yet signed."""
        return [e for e in self.entries if e.status is EntryStatus.COMPLETE and not e.none_reported and not e.valid_signatures]

    @property
    def none_reportable(self) -> bool:
        """A list (repeating) form with nothing entered yet at this visit may be marked "none to report"."""
        return self.instrument.repeating and not self.entries

    @property
    def lockable(self) -> list[CrfEntry]:
        """Complete entries that are source-verified and signed."""
        return [e for e in self.entries if e.status is EntryStatus.COMPLETE and e.verified_at and e.valid_signatures]

    @property
    def status(self) -> FormStatus:
        if not self.entries:
            return FormStatus.NOT_STARTED
        if all(entry.status is not EntryStatus.DRAFT for entry in self.entries):
            return FormStatus.COMPLETE
        return FormStatus.DRAFT


def visit_forms(visit: Visit, codes: list[str]) -> list[VisitForm]:
    """The visit's forms in protocol order with their entries (one query, plus one per repeating instrument in use)."""
    entries = db.session.scalars(select(CrfEntry).where(CrfEntry.visit_id == visit.id).order_by(CrfEntry.instrument, CrfEntry.sequence)).all()
    forms = [VisitForm(instrument(code), [e for e in entries if e.instrument == code]) for code in codes]
    for form in forms:
        ids = [e.id for e in form.entries if not e.none_reported]
        if form.instrument.repeating and ids:
            model = form.instrument.model
            form.data = {row.entry_id: row for row in db.session.scalars(select(model).where(model.entry_id.in_(ids)))}
    return forms


def form_context(subject: Subject, visit: Visit) -> FormContext:
    """What the instrument forms need to know about the subject and visit."""
    return FormContext(
        protocol=protocol_for(subject.study.code),
        index_date=subject.index_date,
        site_today=site_today(subject.site),
        timezone=subject.site.timezone,
        visit_code=visit.definition.code,
        visit_target_day=visit.definition.target_day,
        visit_date=visit.visit_date,
        arm_code=subject.arm.code if subject.arm else None,
        index_at=subject.index_at,
        now=now_utc(),
        consent_date=subject.consent_date,
        window_start=visit.window_start,
        window_end=visit.window_end,
    )


def entry_data(item: Instrument, entry: CrfEntry | None) -> CrfData | None:
    """The typed data row of an entry."""
    return None if entry is None else db.session.get(item.model, entry.id)


def initial_values(item: Instrument, data: CrfData | None, context: FormContext) -> dict:
    """Stored entered values in form shape: instants shown in the site's local time."""
    if data is None:
        return {}
    values = {}
    for name in item.items.entered_names():
        value = getattr(data, name, None)
        if isinstance(value, datetime):
            value = value.astimezone(ZoneInfo(context.timezone)).replace(tzinfo=None)
        values[name] = value
    return values


def entered_values(item: Instrument, data: CrfData | None) -> dict[str, object]:
    """The entered (not computed) values of a data row, by field."""
    return {name: getattr(data, name, None) for name in item.items.entered_names()} if data is not None else {}


#: The digest new signatures are bound to (`Signature.digest_version`).
DIGEST_VERSION = 2


def data_digest(item: Instrument, data: CrfData | None, entry: CrfEntry, version: int = DIGEST_VERSION) -> str:
    """SHA-256 of an entry's entered values, missing-data codes and (from version 2) its visit's date and missed
    mark: what a signature is bound to, so a later change of any of them, by whatever way, breaks the signature."""
    payload: dict[str, object] = {"values": entered_values(item, data), "missing": entry.missing}
    if version >= 2:
        payload |= {"visit_date": entry.visit.visit_date, "missed": entry.visit.missed}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def touch(entry: CrfEntry) -> None:
    """Give the entry a new version without changing a value, provided it is still the version this request read
    (a conditional UPDATE): signing it, or changing its visit's date, then conflicts with a concurrent save,
    signature or date change instead of passing it unseen (StaleDataError, as for two saves)."""
    seen = entry.version
    if not update_where(db.session, CrfEntry, CrfEntry.id == entry.id, CrfEntry.version == seen, version=seen + 1):
        raise StaleDataError(f"crf_entries {entry.id} changed since version {seen} was read")
    db.session.refresh(entry)  # read again, now that no change of it can commit before this transaction does


def save_entry(visit: Visit, item: Instrument, entered: EntryInput, *, entry: CrfEntry | None) -> CrfEntry:
    """Save an entry as a draft or complete, from validated values; fills the computed values.

    A single instrument is completed only once its visit has a date. A locked entry is
    refused. Changing a complete entry needs a reason for change, drops its source
    verification and voids its signatures (all in the audit trail). A save based on an
    older version than the stored one — including a first save of a form someone else has
    saved since it was opened — is refused, naming what they saved. A new entry of a
    repeating instrument takes the place of a "none to report" mark at the visit.
    """
    by = entered.by
    if entered.complete and not item.repeating and visit.visit_date is None:
        raise InvalidInput.at(None, "Record the visit date before completing this form; it can be saved as a draft now.")
    if entry is not None and entry.status is EntryStatus.LOCKED:
        raise InvalidInput.at(None, "This form is locked; the data manager must unlock it, with a reason, before it can change.")
    if entry is not None:
        data = entry_data(item, entry)
        before = {**entered_values(item, data), "missing": entry.missing}
        if entered.version_seen != entry.version:
            raise conflict(entry, item, entered)
        changed = before != {**before, **entered.values, "missing": entered.missing}
        reason = entered.reason.strip()
        if changed and entry.status is EntryStatus.COMPLETE and not reason:
            raise InvalidInput.at(
                "reason_for_change", "Reason for change: required to change a complete form (no names); its source verification and signature will be dropped."
            )
        if changed and entry.status is EntryStatus.COMPLETE:
            set_reason(db.session(), reason)
            entry.reopen(now_utc(), reason)
    else:
        entry, data = _new_entry(visit, item, by)
        changed = True
    for name, value in entered.values.items():
        setattr(data, name, value)
    entry.missing = entered.missing  # before computing: a missing code can count (seriousness unknown starts the SAE clock)
    if item.compute:
        item.compute(data, form_context(visit.subject, visit))
    if changed or entry.status is EntryStatus.DRAFT:
        entry.status = EntryStatus.COMPLETE if entered.complete else EntryStatus.DRAFT
    entry.confirmed_warnings = entered.confirmed_warnings
    entry.updated_at = now_utc()
    entry.updated_by_id = by.id if by else None
    flag_modified(entry, "updated_at")  # every save is a new version of the entry, even with equal values
    db.session.flush()
    entry_saved.send(entry, visit=visit, by=by)  # its receiver refreshes the subject's flags
    return entry


def _new_entry(visit: Visit, item: Instrument, by: User | None) -> tuple[CrfEntry, CrfData]:
    """A new entry and its data row. For a repeating instrument: the next number at the visit, or the
    visit's "none to report" mark becomes entry 1 (rows are never deleted, so no id is ever reused).
    Two requests creating the same number collide on the entry's unique constraint."""
    # One statement reads the mark and the numbers taken, so the two cannot disagree: either the mark is seen
    # (and becomes entry 1), or number 1 is taken here too and collides with a mark committed meanwhile.
    taken = (
        db.session.execute(
            select(CrfEntry.id, CrfEntry.sequence, CrfEntry.none_reported).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == item.code)
        ).all()
        if item.repeating
        else []
    )
    marker = next((db.session.get(CrfEntry, row.id) for row in taken if row.none_reported), None)
    if marker is not None:
        entry = marker
        entry.none_reported, entry.sequence = False, 1
    else:
        entry = CrfEntry(
            subject_id=visit.subject_id,
            visit_id=visit.id,
            instrument=item.code,
            sequence=max((row.sequence for row in taken), default=0) + 1,
            created_by_id=by.id if by else None,
        )
        db.session.add(entry)
    db.session.flush()
    data = item.model(entry_id=entry.id, entry=entry)
    db.session.add(data)
    return entry, data


def conflict(entry: CrfEntry, item: Instrument, entered: EntryInput) -> EntryConflict:
    """The refusal of a save over a newer version: who saved, and where their values differ from the ones entered."""
    stored = entered_values(item, entry_data(item, entry))
    who = db.session.get(User, entry.updated_by_id) if entry.updated_by_id else None
    differences = [
        f"{item.items.label(name)}: saved as {_shown(stored.get(name))}, you entered {_shown(entered.values.get(name))}"
        for name in item.items.entered_names()
        if stored.get(name) != entered.values.get(name)
    ]
    changes = "; ".join(differences) or "no value differs from yours"
    # A signature, a verification or a visit-date change also gives the form a new version, without a save.
    now = f", and it is now {entry.state}" if entry.state not in ("draft", "complete") else ""
    return EntryConflict.at(
        None,
        (
            f"This form changed after you opened it: last saved by {who.full_name if who else 'someone'} at "
            f"{entry.updated_at:%Y-%m-%d %H:%M} UTC{now}. Nothing of yours was saved. {changes}. "
            "Reload the form to see it as it is now, then change what is still needed."
        ),
    )


def conflict_after_race(visit: Visit, item: Instrument, sequence: int | None, entered: EntryInput) -> InvalidInput:
    """A save that lost a race (saved at the same instant as another): the refusal, against what the winner saved
    (`sequence` None: a new list entry that found no free number)."""
    entry = (
        None
        if sequence is None
        else db.session.scalar(
            select(CrfEntry).where(
                CrfEntry.visit_id == visit.id,
                CrfEntry.instrument == item.code,
                CrfEntry.sequence == sequence,
                CrfEntry.none_reported.is_(False),
            )
        )
    )
    if entry is None:
        return InvalidInput.at(None, "Someone else saved this form at the same moment; nothing of yours was saved. Reload the form and try again.")
    return conflict(entry, item, entered)


def _shown(value) -> str:
    return "empty" if value is None or value == "" else str(value)


def mark_none_reported(visit: Visit, item: Instrument, by: User | None) -> CrfEntry:
    """Record that a repeating instrument has nothing to report at this visit."""
    if not item.repeating:
        raise InvalidInput.at(None, f"{item.label} is not a list of events.")
    existing = db.session.scalars(select(CrfEntry).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == item.code)).all()
    if any(not entry.none_reported for entry in existing):
        raise InvalidInput.at(None, f"{item.label}: entries are recorded at this visit, so it cannot be marked as none to report.")
    if existing:
        return existing[0]
    # Number 1, as the first entry would be: a mark and a first entry made at the same moment collide on the
    # entry's unique constraint, so "none to report" never stands beside an entry.
    entry = CrfEntry(
        subject_id=visit.subject_id,
        visit_id=visit.id,
        instrument=item.code,
        sequence=1,
        status=EntryStatus.COMPLETE,
        none_reported=True,
        created_by_id=by.id if by else None,
        updated_by_id=by.id if by else None,
    )
    db.session.add(entry)
    db.session.flush()
    return entry


# -- lifecycle: source verification, signature, lock -----------------------------------------------


def _moved(move) -> None:
    try:
        move()
    except LifecycleError as error:
        raise InvalidInput.at(None, str(error)) from None


def verify_entry(entry: CrfEntry, by: User) -> None:
    """A monitor marks a complete entry as verified against the source."""
    _moved(lambda: entry.verify(by.id, now_utc()))
    db.session.flush()


SIGNATURE_MEANING = "approved"


class IdentityNotConfirmed(Exception):
    """A signature was asked for without the signer's password (and, first in a session, email) checked."""


def sign_entries(entries: list[tuple[CrfEntry, Instrument]], user: User, identity: PasswordCheck) -> list[Signature]:
    """The investigator signs complete entries (21 CFR 11.50 / 11.200), once `identity` confirms the signer
    (`ecrf.auth.services.confirm_identity`): a signature per entry with printed name, date-time and meaning,
    bound to the data (and the visit date) by its digest. One valid signature per entry: the database refuses
    a second one made at the same moment."""
    if not identity.ok:
        raise IdentityNotConfirmed(user.email)
    if not entries:
        raise InvalidInput.at(None, "There is no complete, unsigned form to sign.")
    for visit_id in sorted({entry.visit_id for entry, _ in entries}):
        lock_row(db.session, Visit, visit_id)  # signing and changing the visit's date take its forms one after another
    for entry, _ in entries:
        _moved(entry.check_signable)
        touch(entry)
    # What is signed is read after the touches: a save or a date change committed before them is seen, and none
    # can commit after them before this transaction does (each touches the entry too).
    for visit in {entry.visit for entry, _ in entries}:
        db.session.refresh(visit)
    signatures = []
    for entry, item in entries:
        data = db.session.get(item.model, entry.id, populate_existing=True)
        signature = Signature(
            entry=entry,
            user_id=user.id,
            printed_name=user.full_name,
            meaning=SIGNATURE_MEANING,
            signed_at=now_utc(),
            data_sha256=data_digest(item, data, entry),
            digest_version=DIGEST_VERSION,
        )
        db.session.add(signature)
        signatures.append(signature)
    db.session.flush()
    return signatures


def signature_holds(signature: Signature, item: Instrument, entry: CrfEntry) -> bool:
    """A signature counts while it is not void and the entry's data are still those signed."""
    return signature.voided_at is None and signature.data_sha256 == data_digest(item, entry_data(item, entry), entry, signature.digest_version)


def lock_entries(entries: list[CrfEntry], by: User) -> None:
    """The data manager locks entries; open queries on an entry block it."""
    for visit_id in sorted({entry.visit_id for entry in entries}):
        lock_row(db.session, Visit, visit_id)  # as signing and date changes do: one after another, never a deadlock
    blocked = [entry for entry in entries if open_query_count(entry)]
    if blocked:
        raise InvalidInput.at(None, f"{len(blocked)} form(s) have open queries; close them before locking.")
    for entry in entries:
        _moved(lambda entry=entry: entry.lock(by.id, now_utc()))
    db.session.flush()


def unlock_entry(entry: CrfEntry, by: User, reason: str) -> None:
    """The data manager unlocks an entry, with a reason kept in the audit trail."""
    if not (reason or "").strip():
        raise InvalidInput.at("reason", "Reason for unlocking: required.")
    with reason_of(db.session(), reason.strip()):
        _moved(entry.unlock)
