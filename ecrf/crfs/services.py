"""Entering instrument forms: which forms a visit needs, and saving entries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm.attributes import flag_modified

from ecrf.auth.models import User
from ecrf.clock import now_utc, site_today
from ecrf.crfs.models import CrfData, CrfEntry, EntryStatus
from ecrf.crfs.registry import Instrument, instrument
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from forms.base import CrfForm, FormContext


class FormStatus(str, Enum):
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
    def status(self) -> FormStatus:
        if not self.entries:
            return FormStatus.NOT_STARTED
        if all(entry.status is EntryStatus.COMPLETE for entry in self.entries):
            return FormStatus.COMPLETE
        return FormStatus.DRAFT


def visit_forms(visit: Visit, codes: list[str]) -> list[VisitForm]:
    """The visit's forms in protocol order with their entries (one query, plus one per repeating instrument in use)."""
    entries = db.session.scalars(
        select(CrfEntry).where(CrfEntry.visit_id == visit.id).order_by(CrfEntry.instrument, CrfEntry.sequence)
    ).all()
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
    )


def entry_data(item: Instrument, entry: CrfEntry | None) -> CrfData | None:
    """The typed data row of an entry."""
    return None if entry is None else db.session.get(item.model, entry.id)


def initial_values(form_class: type[CrfForm], data: CrfData | None, context: FormContext) -> dict:
    """Stored values in form shape: instants shown in the site's local time."""
    if data is None:
        return {}
    values = {}
    for name in form_class.data_field_names():
        value = getattr(data, name, None)
        if isinstance(value, datetime):
            value = value.astimezone(ZoneInfo(context.timezone)).replace(tzinfo=None)
        values[name] = value
    return values


def save_entry(
    visit: Visit,
    item: Instrument,
    form: CrfForm,
    *,
    entry: CrfEntry | None,
    complete: bool,
    by: User | None,
) -> CrfEntry:
    """Save a validated form as a draft or complete entry; fills the computed values.

    A single instrument is completed only once its visit has a date. An entry
    changed by someone else since the form was opened is refused (version check).
    """
    if complete and not item.repeating and visit.visit_date is None:
        raise InvalidInput.at(None, "Record the visit date before completing this form; it can be saved as a draft now.")
    if entry is not None and form.version.data not in (None, "", str(entry.version)):
        raise InvalidInput.at(None, (
            f"Someone saved this form since you opened it (version {entry.version}, "
            f"{entry.updated_at:%Y-%m-%d %H:%M} UTC). Your values are still below: reload the page to see theirs, then re-enter yours."
        ))
    if entry is None:
        _drop_none_reported(visit, item)
        entry = CrfEntry(subject_id=visit.subject_id, visit_id=visit.id, instrument=item.code, sequence=_next_sequence(visit, item), created_by_id=by.id if by else None)
        db.session.add(entry)
        db.session.flush()
        data = item.model(entry_id=entry.id)
        db.session.add(data)
    else:
        data = entry_data(item, entry)
    for data_field in form.data_fields():
        value = form.value(data_field.name)
        if isinstance(value, datetime) and value.tzinfo is None:
            value = form.local_to_utc(value)
        setattr(data, data_field.name, value)
    if item.compute:
        item.compute(data, form.context)
    entry.status = EntryStatus.COMPLETE if complete else EntryStatus.DRAFT
    entry.none_reported = False
    entry.missing = form.missing_map()
    entry.confirmed_warnings = form.confirmed_codes()
    entry.updated_at = now_utc()
    entry.updated_by_id = by.id if by else None
    flag_modified(entry, "updated_at")  # every save is a new version of the entry, even with equal values
    db.session.flush()
    return entry


def _next_sequence(visit: Visit, item: Instrument) -> int:
    if not item.repeating:
        return 1
    highest = db.session.scalar(select(func.max(CrfEntry.sequence)).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == item.code))
    return (highest or 0) + 1


def _drop_none_reported(visit: Visit, item: Instrument) -> None:
    """A new entry of a repeating instrument replaces "none to report" at the visit."""
    for marker in db.session.scalars(select(CrfEntry).where(
        CrfEntry.visit_id == visit.id, CrfEntry.instrument == item.code, CrfEntry.none_reported.is_(True),
    )):
        db.session.delete(marker)
    db.session.flush()


def mark_none_reported(visit: Visit, item: Instrument, by: User | None) -> CrfEntry:
    """Record that a repeating instrument has nothing to report at this visit."""
    if not item.repeating:
        raise InvalidInput.at(None, f"{item.label} is not a list of events.")
    existing = db.session.scalars(select(CrfEntry).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == item.code)).all()
    if any(not entry.none_reported for entry in existing):
        raise InvalidInput.at(None, f"{item.label}: entries are recorded at this visit, so it cannot be marked as none to report.")
    if existing:
        return existing[0]
    entry = CrfEntry(
        subject_id=visit.subject_id, visit_id=visit.id, instrument=item.code, sequence=0, status=EntryStatus.COMPLETE,
        none_reported=True, created_by_id=by.id if by else None, updated_by_id=by.id if by else None,
    )
    db.session.add(entry)
    db.session.flush()
    return entry
