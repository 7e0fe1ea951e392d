"""What follows a write: the one receiver of each signal of `ecrf.signals`, connected when an app is built.

Each receiver runs inside the service's `send`, so in the write's own transaction, once per write.
(Why signals rather than a before-commit unit of work: see `ecrf.signals`.)
"""

from __future__ import annotations

from datetime import date

from ecrf.auth.models import User
from ecrf.clock import site_today
from ecrf.crfs.models import CrfEntry
from ecrf.deviations.services import record_deviation
from ecrf.extensions import db
from ecrf.safety.services import refresh_flags
from ecrf.signals import entry_saved, subject_changed, visit_changed
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit


def after_entry_saved(entry: CrfEntry, *, visit: Visit, by: User | None) -> None:
    """A safety signal in the new values reaches the investigator now."""
    refresh_flags([visit.subject])


def after_visit_changed(visit: Visit, *, previous_date: date | None, reason: str, by: User | None) -> None:
    """A visit dated outside its window, or missed, is a protocol deviation; the last scheduled visit dated or
    missed completes the subject's follow-up; then the subject's flags follow."""
    subject = visit.subject
    # Read without flushing the visit's change first: the deviation is written before it, as it always was
    # (the audit trail lists them in that order).
    with db.session.no_autoflush:
        label = visit.definition.label
        last = visit is subject.visits[-1]
        if visit.missed:
            deviation = ("missed_visit", f"{label} missed (window {visit.window_text})")
        else:
            assert visit.visit_date is not None  # visit_changed is sent for a visit dated or missed
            if visit.visit_date != previous_date and not visit.in_window(visit.visit_date):
                deviation = ("visit_out_of_window", f"{label} on {visit.visit_date.isoformat()}, window {visit.window_text}")
            else:
                deviation = None
    if deviation is not None:
        record_deviation(visit, *deviation, reason, by)
    if last and subject.status is SubjectStatus.ACTIVE:
        subject.status, subject.status_date = SubjectStatus.COMPLETED, visit.visit_date or site_today(subject.site)
    db.session.flush()
    refresh_flags([subject])


def after_subject_changed(subject: Subject, *, by: User | None) -> None:
    """Flags follow the subject's new status (a death, visits no longer due)."""
    refresh_flags([subject])


def connect_receivers() -> None:
    """Connect each signal's one receiver (idempotent: connecting a receiver again changes nothing)."""
    entry_saved.connect(after_entry_saved, weak=False)
    visit_changed.connect(after_visit_changed, weak=False)
    subject_changed.connect(after_subject_changed, weak=False)
