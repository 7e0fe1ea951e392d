"""Raising and resolving flags, and the investigator's decision on a safety signal."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ecrf.auth.models import User
from ecrf.clock import now_utc, site_today
from ecrf.crfs.input import EntryInput
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import save_entry
from ecrf.db import update_where
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.safety.models import Flag, FlagStatus
from ecrf.safety.rules import READ, Cause, find_causes, load_forms, overdue_causes
from ecrf.studies.models import Site
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit


def refresh_flags(subjects: list[Subject], *, now: datetime | None = None, today: Callable[[Subject], date] | None = None) -> list[Flag]:
    """Raise a flag for each new cause of these subjects, resolve their open flags whose cause went away;
    returns the new flags. A flag decided by the investigator stays decided; one resolved whose cause
    comes back opens again."""
    now = now or now_utc()
    today = today or (lambda subject: site_today(subject.site))
    if not subjects:
        return []
    forms = load_forms(subjects)
    causes = {cause.key: cause for subject in subjects for cause in find_causes(subject, forms[subject.id], today(subject), now)}
    existing = db.session.scalars(select(Flag).where(Flag.subject_id.in_([s.id for s in subjects]))).all()
    return _sync(causes, existing, now)


def refresh_site_flags(site: Site, today: date, now: datetime) -> list[Flag]:
    """`refresh_flags` for a whole site, reading only what can cause a flag: its overdue visits (one
    query) and the subjects with entered forms the rules read or who died."""
    causes = {cause.key: cause for cause in overdue_causes(site, today)}
    with_forms = select(CrfEntry.subject_id).where(CrfEntry.instrument.in_(READ), CrfEntry.status != EntryStatus.DRAFT)
    subjects = db.session.scalars(
        select(Subject)
        .where(Subject.site_id == site.id, or_(Subject.id.in_(with_forms), Subject.status == SubjectStatus.DIED))
        .options(selectinload(Subject.visits).joinedload(Visit.definition))
    ).all()
    forms = load_forms(subjects) if subjects else {}
    causes.update({cause.key: cause for subject in subjects for cause in find_causes(subject, forms[subject.id], today, now)})
    existing = db.session.scalars(select(Flag).where(Flag.site_id == site.id, Flag.status.in_([FlagStatus.OPEN, FlagStatus.RESOLVED]))).all()
    decided = set(db.session.scalars(select(Flag.key).where(Flag.site_id == site.id, Flag.status.in_([FlagStatus.CONFIRMED, FlagStatus.DISMISSED]))))
    return _sync({key: cause for key, cause in causes.items() if key not in decided}, existing, now)


def _sync(causes: dict[str, Cause], existing: Sequence[Flag], now: datetime) -> list[Flag]:
    """Open, re-open and resolve flags so that the open ones are exactly the current causes."""
    by_key = {flag.key: flag for flag in existing}
    raised = []
    for key, flag in by_key.items():
        if key in causes and flag.status is FlagStatus.RESOLVED:
            flag.status, flag.closed_at, flag.message = FlagStatus.OPEN, None, causes[key].message
            raised.append(flag)
        elif key not in causes and flag.status is FlagStatus.OPEN:
            flag.status, flag.closed_at = FlagStatus.RESOLVED, now
    for key, cause in causes.items():
        if key not in by_key:
            flag = Flag(
                key=key,
                kind=cause.kind,
                safety=cause.safety,
                study_id=cause.subject.study_id,
                site_id=cause.subject.site_id,
                subject_id=cause.subject.id,
                visit_id=cause.visit_id,
                entry_id=cause.entry_id,
                message=cause.message,
                raised_at=now,
            )
            db.session.add(flag)
            raised.append(flag)
    db.session.flush()
    return raised


def _ae_visit(flag: Flag):
    """The visit to report the adverse event at: the flag's own if it collects AEs, else the latest dated one that does."""
    subject = flag.subject
    protocol = protocol_for(subject.study.code)
    collecting = [v for v in subject.visits if "adverse_events" in protocol.visit(v.definition.code).instruments]
    own = next((v for v in collecting if v.id == flag.visit_id), None)
    dated = [v for v in collecting if v.visit_date is not None]
    return own or (dated[-1] if dated else collecting[0] if collecting else None)


def confirm_flag(flag: Flag, by: User) -> CrfEntry:
    """The investigator confirms a safety signal: an adverse event entry opens as a draft, prefilled from the flag,
    saved through the adverse event form's own service (so it takes a "none to report" mark's place)."""
    _decide(flag, FlagStatus.CONFIRMED, "confirmed")
    visit = _ae_visit(flag)
    if visit is None:
        raise InvalidInput.at(None, f"{flag.subject.study.short_title} collects no adverse events at any visit.")
    prefill = {"ae_term": flag.message.split(":")[0][:200], "onset_date": visit.visit_date.isoformat() if visit.visit_date else None}
    entry = save_entry(visit, instrument("adverse_events"), EntryInput(values=prefill, by=by), entry=None)
    flag.status, flag.closed_at, flag.decided_by_id, flag.ae_entry_id = FlagStatus.CONFIRMED, now_utc(), by.id, entry.id
    db.session.flush()
    return entry


def _decide(flag: Flag, status: FlagStatus, doing: str) -> None:
    """Take the decision on an open safety flag with one conditional UPDATE: of two decisions at once, one is taken."""
    if not flag.safety or flag.status is not FlagStatus.OPEN:
        raise InvalidInput.at(None, f"Only an open safety flag can be {doing}.")
    if not update_where(db.session, Flag, Flag.id == flag.id, Flag.status == FlagStatus.OPEN, status=status):
        db.session.refresh(flag)
        raise InvalidInput.at(None, f"This flag was {flag.status.value} by someone else a moment ago; nothing was done twice.")


def dismiss_flag(flag: Flag, by: User, reason: str) -> None:
    """The investigator dismisses a safety signal, with a reason."""
    if not (reason or "").strip():
        raise InvalidInput.at("reason", "Reason: required to dismiss a safety flag.")
    _decide(flag, FlagStatus.DISMISSED, "dismissed")
    flag.status, flag.closed_at, flag.decided_by_id, flag.decision_reason = FlagStatus.DISMISSED, now_utc(), by.id, reason.strip()
    db.session.flush()
