"""Recording what happened at a visit."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from ecrf.audit.trail import set_reason
from ecrf.auth.models import User
from ecrf.clock import now_utc, site_today
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.services import touch
from ecrf.db import lock_row
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.signals import visit_changed
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus


def record_visit_date(
    visit: Visit, visit_date: date, by: User | None = None, deviation_reason: str | None = None, reason_for_change: str | None = None
) -> WindowStatus:
    """Record the date the visit took place; returns the visit's status after it.

    The date may fall outside the window, but then only with a deviation reason, and
    a protocol deviation is recorded; never before the index date nor after today at
    the site. The last scheduled visit completes the subject's follow-up (both done by
    `visit_changed`'s receiver). A visit with locked forms keeps its date; one with signed or
    verified forms changes it only with a reason for change, which voids their signatures and
    drops their verification.
    """
    subject = visit.subject
    today = site_today(subject.site)
    if visit.visit_date == visit_date and not visit.missed:
        return visit.status(today)  # nothing changes
    if visit_date > today:
        raise InvalidInput.at("visit_date", f"Visit date: must not be after today at the site ({today.isoformat()}).")
    if visit_date < subject.index_date:
        label = protocol_for(subject.study.code).index.label.lower()
        raise InvalidInput.at("visit_date", f"Visit date: must not be before the {label} ({subject.index_date.isoformat()}).")
    reason = (deviation_reason or "").strip()
    if not visit.in_window(visit_date) and not reason:
        raise InvalidInput.at(
            "deviation_reason",
            (
                f"Deviation reason: required; {visit_date.isoformat()} is outside the window {visit.window_text}, "
                "so the visit is a protocol deviation: say why (no names)."
            ),
        )
    _release_forms(visit, reason_for_change)
    previous_date = visit.visit_date
    visit.visit_date = visit_date
    visit.missed = False
    visit.missed_reason = None
    visit_changed.send(visit, previous_date=previous_date, reason=reason, by=by)
    db.session.flush()
    return visit.status(today)


def mark_missed(visit: Visit, reason: str, by: User | None = None) -> None:
    """The visit did not and will not take place: missed, with a reason, and (by `visit_changed`'s receiver) a
    protocol deviation; the last scheduled visit missed completes the subject's follow-up."""
    subject = visit.subject
    today = site_today(subject.site)
    problems: list[tuple[str | None, str]] = []
    if visit.visit_date is not None:
        problems.append((None, f"{visit.definition.label} took place on {visit.visit_date.isoformat()}; it cannot be missed."))
    elif today < visit.window_start:
        problems.append((None, f"{visit.definition.label}: the window opens on {visit.window_start.isoformat()}; a visit is missed only once it is due."))
    if not (reason or "").strip():
        problems.append(("missed_reason", "Reason missed: required; say why (no names)."))
    if problems:
        raise InvalidInput(problems)
    _release_forms(visit, reason)
    visit.missed, visit.missed_reason = True, reason.strip()
    visit_changed.send(visit, previous_date=visit.visit_date, reason=reason.strip(), by=by)
    db.session.flush()


def _release_forms(visit: Visit, reason: str | None) -> None:
    """Before a visit's date or missed mark changes: refused while any of its forms is locked; where forms are
    signed or source-verified, a reason for change is required, their signatures are voided and their
    verification dropped (the signature's hash covers the visit date, so nothing else could keep it)."""
    lock_row(db.session, Visit, visit.id)  # as signing and locking do: they wait for this change, or it for them
    entries = db.session.scalars(select(CrfEntry).where(CrfEntry.visit_id == visit.id, CrfEntry.none_reported.is_(False))).all()
    locked = [entry for entry in entries if entry.status is EntryStatus.LOCKED]
    if locked:
        raise InvalidInput.at(
            None,
            (
                f"{len(locked)} form(s) of this visit are locked, so its date and missed mark cannot change; "
                "the data manager must unlock them first, with a reason."
            ),
        )
    marked = [entry for entry in entries if entry.status is EntryStatus.COMPLETE and (entry.verified_at or entry.valid_signatures)]
    reason = (reason or "").strip()
    if marked and not reason:
        raise InvalidInput.at(
            "reason_for_change",
            (
                f"Reason for change: required; {len(marked)} form(s) of this visit are signed or source-verified, and changing "
                "its date voids their signatures and drops their verification (no names)."
            ),
        )
    if reason:
        set_reason(db.session(), reason)  # given, it goes with every change of this transaction in the audit trail
    for entry in entries:
        if entry.status is EntryStatus.COMPLETE:
            touch(entry)  # a signature being made at this moment conflicts with the change instead of missing it
    for entry in marked:
        entry.reopen(now_utc(), reason)


def visit_by_code(subject, visit_code: str) -> Visit | None:
    """The subject's visit with this protocol code."""
    return next((visit for visit in subject.visits if visit.definition.code == visit_code), None)
