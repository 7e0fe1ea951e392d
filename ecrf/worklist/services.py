"""The coordinator's worklist: what needs doing across all their studies and sites."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from ecrf.access import grants, scoped
from ecrf.auth.models import User
from ecrf.clock import site_today
from ecrf.extensions import db
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus


@dataclass(frozen=True)
class WorkItem:
    """A visit on the worklist, with its status on the site's calendar."""

    visit: Visit
    status: WindowStatus
    today: date

    @property
    def days_overdue(self) -> int:
        return (self.today - self.visit.window_end).days

    @property
    def days_until_open(self) -> int:
        return (self.visit.window_start - self.today).days

    @property
    def days_left(self) -> int:
        return (self.visit.window_end - self.today).days


@dataclass
class Worklist:
    """Visits overdue, open now, and opening within the horizon."""

    horizon_days: int
    overdue: list[WorkItem] = field(default_factory=list)
    open: list[WorkItem] = field(default_factory=list)
    opening: list[WorkItem] = field(default_factory=list)


def build_worklist(user: User, horizon_days: int) -> Worklist:
    """The user's worklist over every study and site they belong to, in one query.

    The query fetches every pending visit whose window opens by the latest
    site-local horizon; `window_status` then decides each visit's status on its
    own site's calendar.
    """
    worklist = Worklist(horizon_days)
    sites = grants(user).sites
    if not sites:
        return worklist
    todays = {site_id: site_today(site) for site_id, site in sites.items()}
    latest_horizon = max(todays.values()) + timedelta(days=horizon_days)
    visits = db.session.scalars(
        scoped(select(Visit).join(Visit.subject), user)
        .where(
            Visit.visit_date.is_(None),
            Visit.missed.is_(False),
            Subject.status == SubjectStatus.ACTIVE,
            Visit.window_start <= latest_horizon,
        )
        .options(contains_eager(Visit.subject).joinedload(Subject.site), contains_eager(Visit.subject).joinedload(Subject.study), joinedload(Visit.definition))
        .order_by(Visit.window_end, Subject.subject_code)
    ).all()
    for visit in visits:
        today = todays[visit.subject.site_id]
        item = WorkItem(visit, visit.status(today), today)
        if item.status is WindowStatus.OVERDUE:
            worklist.overdue.append(item)
        elif item.status is WindowStatus.OPEN:
            worklist.open.append(item)
        elif item.status is WindowStatus.NOT_YET_OPEN and item.days_until_open <= horizon_days:
            worklist.opening.append(item)
    worklist.opening.sort(key=lambda item: (item.visit.window_start, item.visit.subject.subject_code))
    return worklist
