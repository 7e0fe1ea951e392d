"""Recording what happened at a visit."""
from __future__ import annotations

from datetime import date

from ecrf.auth.models import User
from ecrf.clock import site_today
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.subjects.models import SubjectStatus
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus


def record_visit_date(visit: Visit, visit_date: date, by: User | None = None) -> WindowStatus:
    """Record the date the visit took place; returns the visit's status after it.

    The date may fall outside the window (that visit is then "completed out of
    window"), but never before the index date nor after today at the site. The
    last scheduled visit completes the subject's follow-up.
    """
    subject = visit.subject
    today = site_today(subject.site)
    if visit_date > today:
        raise InvalidInput.at("visit_date", f"Visit date: must not be after today at the site ({today.isoformat()}).")
    if visit_date < subject.index_date:
        label = protocol_for(subject.study.code).index.label.lower()
        raise InvalidInput.at("visit_date", f"Visit date: must not be before the {label} ({subject.index_date.isoformat()}).")
    visit.visit_date = visit_date
    visit.missed = False
    visit.missed_reason = None
    if visit is subject.visits[-1] and subject.status is SubjectStatus.ACTIVE:
        # The last scheduled visit took place: follow-up is complete.
        subject.status, subject.status_date = SubjectStatus.COMPLETED, visit_date
    db.session.flush()
    return visit.status(today)


def visit_by_code(subject, visit_code: str) -> Visit | None:
    """The subject's visit with this protocol code."""
    return next((visit for visit in subject.visits if visit.definition.code == visit_code), None)
