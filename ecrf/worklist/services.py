"""The coordinator's worklist: what needs doing across all their studies and sites."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import contains_eager, joinedload

from ecrf.access import grants, scoped
from ecrf.auth.models import User
from ecrf.clock import site_today
from ecrf.extensions import db
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus, pending_status_filters


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
class Section:
    """One part of the worklist: the most urgent items and how many there are in all."""

    items: list[WorkItem] = field(default_factory=list)
    total: int = 0


@dataclass
class Worklist:
    """Visits overdue, open now, and opening within the horizon."""

    horizon_days: int
    limit: int
    overdue: Section = field(default_factory=Section)
    open: Section = field(default_factory=Section)
    opening: Section = field(default_factory=Section)


def build_worklist(user: User, horizon_days: int, limit: int) -> Worklist:
    """The user's worklist over every study and site they belong to.

    Each section lists its `limit` most urgent visits (overdue and open by window
    end, opening by window start) and counts all of them. Every site's visits are
    judged on that site's own date; the queries do not grow with the data.
    """
    worklist = Worklist(horizon_days, limit)
    sites = grants(user).sites
    if not sites:
        return worklist
    todays = {site_id: site_today(site) for site_id, site in sites.items()}
    today = case(todays, value=Subject.site_id)
    horizon = case({site_id: day + timedelta(days=horizon_days) for site_id, day in todays.items()}, value=Subject.site_id)
    filters = pending_status_filters(Visit.window_start, Visit.window_end, today)
    pending = scoped(select(Visit).join(Visit.subject), user).where(Visit.pending_clause())
    # Plain-date bounds implied by the per-site filters let the database use its window indexes.
    earliest, latest = min(todays.values()), max(todays.values())
    sections = [
        (worklist.overdue, pending.where(filters[WindowStatus.OVERDUE], Visit.window_end < latest), Visit.window_end),
        (worklist.open, pending.where(filters[WindowStatus.OPEN], Visit.window_end >= earliest, Visit.window_start <= latest), Visit.window_end),
        (
            worklist.opening,
            pending.where(
                filters[WindowStatus.NOT_YET_OPEN], Visit.window_start <= horizon,
                Visit.window_start > earliest, Visit.window_start <= latest + timedelta(days=horizon_days),
            ),
            Visit.window_start,
        ),
    ]
    for section, stmt, urgency in sections:
        section.total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        visits = db.session.scalars(
            stmt.options(
                contains_eager(Visit.subject).joinedload(Subject.site),
                contains_eager(Visit.subject).joinedload(Subject.study),
                joinedload(Visit.definition),
            )
            .order_by(urgency, Subject.subject_code)
            .limit(limit)
        ).all()
        section.items = [WorkItem(visit, visit.status(todays[visit.subject.site_id]), todays[visit.subject.site_id]) for visit in visits]
    return worklist
