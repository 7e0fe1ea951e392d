"""The coordinator's worklist: what needs doing across all their studies and sites."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, not_, or_, select, true, tuple_
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from ecrf.access import Action, grants, scoped, settleable_queries
from ecrf.alerts.models import Alert
from ecrf.auth.models import User
from ecrf.clock import site_today
from ecrf.crfs.models import CrfEntry
from ecrf.extensions import db
from ecrf.instruments.adverse_events import AdverseEventData
from ecrf.protocols import protocol_for
from ecrf.queries.models import DataQuery, QueryStatus
from ecrf.safety.models import Flag, FlagStatus
from ecrf.studies.models import VisitDefinition
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus, pending_status_filters


def _assessor_visits_only(user: User):
    """SQL: where the user is a blinded assessor, only visits with assessor forms count."""
    blinded = [pair for pair in grants(user).roles if grants(user).blinded(*pair)]
    if not blinded:
        return true()
    codes = {
        (study_id, visit.code) for study_id, _ in blinded for visit in protocol_for(grants(user).studies[study_id].code).visits if visit.assessor_instruments
    }
    definitions = select(VisitDefinition.id).where(tuple_(VisitDefinition.study_id, VisitDefinition.code).in_(codes)) if codes else None
    outside = not_(tuple_(Subject.study_id, Subject.site_id).in_(blinded))
    return or_(outside, Visit.definition_id.in_(definitions)) if definitions is not None else outside


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

    @property
    def timing(self) -> str:
        """Where the visit stands in days: "3 days overdue", "closes in 5 days" or "opens in 2 days"."""
        if self.status is WindowStatus.OVERDUE:
            return f"{self.days_overdue} days overdue"
        if self.status is WindowStatus.OPEN:
            return f"closes in {self.days_left} days"
        return f"opens in {self.days_until_open} days"


@dataclass(frozen=True)
class SaeClock:
    """A serious adverse event waiting for its report to the sponsor."""

    entry: CrfEntry
    term: str
    due_at: datetime

    def hours_left(self, now: datetime) -> float:
        return (self.due_at - now).total_seconds() / 3600


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
    alerts: Sequence[Alert] = field(default_factory=list)
    #: Queries waiting for this user: open ones for site staff, answered ones for those who raise them.
    queries: Sequence[DataQuery] = field(default_factory=list)
    #: Open flags other than overdue visits (those are the overdue section): safety signals, late SAE reports, stale AEs.
    flags: Sequence[Flag] = field(default_factory=list)
    #: Serious adverse events not yet reported to the sponsor, with their deadlines.
    sae_clocks: list[SaeClock] = field(default_factory=list)


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
    worklist.alerts = open_alerts(user)
    worklist.queries = waiting_queries(user, limit)
    worklist.flags = open_flags(user, limit)
    worklist.sae_clocks = sae_clocks(user, limit)
    todays = {site_id: site_today(site) for site_id, site in sites.items()}
    today = case(todays, value=Subject.site_id)
    horizon = case({site_id: day + timedelta(days=horizon_days) for site_id, day in todays.items()}, value=Subject.site_id)
    filters = pending_status_filters(Visit.window_start, Visit.window_end, today)
    pending = scoped(select(Visit).join(Visit.subject), user).where(Visit.pending_clause(), _assessor_visits_only(user))
    # Plain-date bounds implied by the per-site filters let the database use its window indexes.
    earliest, latest = min(todays.values()), max(todays.values())
    sections = [
        (worklist.overdue, pending.where(filters[WindowStatus.OVERDUE], Visit.window_end < latest), Visit.window_end),
        (worklist.open, pending.where(filters[WindowStatus.OPEN], Visit.window_end >= earliest, Visit.window_start <= latest), Visit.window_end),
        (
            worklist.opening,
            pending.where(
                filters[WindowStatus.NOT_YET_OPEN],
                Visit.window_start <= horizon,
                Visit.window_start > earliest,
                Visit.window_start <= latest + timedelta(days=horizon_days),
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


def open_alerts(user: User) -> Sequence[Alert]:
    """Unresolved alerts for a role the user holds in the alert's study (at its site, if it has one)."""
    held = [(study_id, site_id, role.value) for (study_id, site_id), roles in grants(user).roles.items() for role in roles]
    if not held:
        return []
    return (
        db.session.scalars(
            select(Alert)
            .where(
                Alert.resolved_at.is_(None),
                or_(
                    *[
                        and_(Alert.study_id == study_id, Alert.role == role, or_(Alert.site_id.is_(None), Alert.site_id == site_id))
                        for study_id, site_id, role in held
                    ]
                ),
            )
            .options(joinedload(Alert.study), joinedload(Alert.site))
            .order_by(Alert.created_at.desc())
        )
        .unique()
        .all()
    )


def waiting_queries(user: User, limit: int) -> Sequence[DataQuery]:
    """Queries the user should act on: open ones where they answer, answered ones they may close (one query)."""
    known = grants(user)
    answer = [pair for pair in known.roles if known.allows(Action.ANSWER_QUERY, *pair)]
    settle = settleable_queries(user)
    waiting = []
    if answer:
        waiting.append(and_(DataQuery.status == QueryStatus.OPEN, tuple_(Subject.study_id, Subject.site_id).in_(answer)))
    if settle is not None:
        waiting.append(and_(DataQuery.status == QueryStatus.ANSWERED, settle))
    if not waiting:
        return []
    return (
        db.session.scalars(
            select(DataQuery)
            .join(Subject, Subject.id == DataQuery.subject_id)
            .where(or_(*waiting))
            .options(joinedload(DataQuery.entry).joinedload(CrfEntry.subject), selectinload(DataQuery.messages))
            .order_by(DataQuery.raised_at)
            .limit(limit)
        )
        .unique()
        .all()
    )


def _flag_pairs(user: User) -> list[tuple[int, int]]:
    known = grants(user)
    return [pair for pair in known.roles if known.allows(Action.VIEW_FLAGS, *pair)]


def open_flags(user: User, limit: int) -> Sequence[Flag]:
    """Open flags at the user's sites other than overdue visits, oldest first (one query)."""
    pairs = _flag_pairs(user)
    if not pairs:
        return []
    return (
        db.session.scalars(
            select(Flag)
            .where(Flag.status == FlagStatus.OPEN, Flag.kind != "visit_overdue", tuple_(Flag.study_id, Flag.site_id).in_(pairs))
            .options(joinedload(Flag.subject).joinedload(Subject.study), joinedload(Flag.subject).joinedload(Subject.site))
            .order_by(Flag.raised_at)
            .limit(limit)
        )
        .unique()
        .all()
    )


def sae_clocks(user: User, limit: int) -> list[SaeClock]:
    """Serious adverse events (and those of unknown seriousness) at the user's sites not yet reported to the sponsor,
    soonest deadline first."""
    pairs = _flag_pairs(user)
    if not pairs:
        return []
    rows = (
        db.session.execute(
            select(CrfEntry, AdverseEventData.ae_term, AdverseEventData.sae_report_due_at)  # type: ignore[attr-defined]  # an item column, made at run time from __items__
            .join(AdverseEventData, AdverseEventData.entry_id == CrfEntry.id)
            .join(Subject, Subject.id == CrfEntry.subject_id)
            # The deadline is set for serious events and, as a precaution, for those of unknown seriousness.
            .where(
                AdverseEventData.serious.is_not(False),  # type: ignore[attr-defined]  # an item column, made at run time from __items__
                AdverseEventData.reported_at.is_(None),  # type: ignore[attr-defined]  # an item column, made at run time from __items__
                AdverseEventData.sae_report_due_at.is_not(None),  # type: ignore[attr-defined]  # an item column, made at run time from __items__
                tuple_(Subject.study_id, Subject.site_id).in_(pairs),
            )
            .options(
                joinedload(CrfEntry.subject).joinedload(Subject.site),
                joinedload(CrfEntry.subject).joinedload(Subject.study),
                joinedload(CrfEntry.visit).joinedload(Visit.definition),
            )
            .order_by(AdverseEventData.sae_report_due_at)  # type: ignore[attr-defined]  # an item column, made at run time from __items__
            .limit(limit)
        )
        .unique()
        .all()
    )
    return [SaeClock(entry, term or "adverse event", due) for entry, term, due in rows]
