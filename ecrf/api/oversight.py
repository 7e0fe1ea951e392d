"""Flags and queries of a study through the API, for the roles that see them in the browser.

Flags: roles allowed `Action.VIEW_FLAGS` (not a blinded assessor, not an admin). Queries: roles allowed
`Action.VIEW_AUDIT`, as a query's own page (not a blinded assessor). A user whose role sees none of them in the
study gets 403. Each names its subject by study subject ID.

`changed_since` (flags): flags raised at or after that instant, or with an audited change since (resolved,
re-opened, confirmed, dismissed: flag changes are audited, their creation is not).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from spectree import Response
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload, selectinload

from ecrf.access import Action
from ecrf.api.blueprint import bp
from ecrf.api.paging import Page, PageQuery, page
from ecrf.api.scope import Instant, SiteCode, changed_since_field, checked_first, list_sites, study_visible
from ecrf.api.spec import ERRORS, spec
from ecrf.api.threads import QueryThread, query_thread
from ecrf.audit.models import audited_since
from ecrf.crfs.models import CrfEntry
from ecrf.extensions import db
from ecrf.queries.models import DataQuery, QueryMessage, QueryStatus
from ecrf.safety.models import Flag, FlagStatus
from ecrf.studies.models import Study, VisitDefinition
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit


class FlagOut(BaseModel):
    """Something about one subject that needs attention: a reminder, or a safety signal for the investigator."""

    id: int
    kind: str = Field(description="visit_overdue, sae_report_late, ae_not_updated, or a safety signal (abi_drop, villalta_severe ...)")
    safety: bool = Field(description="a safety signal for the investigator to confirm or dismiss")
    status: FlagStatus
    subject_code: str
    site: str
    visit_code: str | None
    message: str
    raised_at: datetime
    closed_at: datetime | None
    decision_reason: str | None


class FlagList(Page[FlagOut]):
    """One page of flags, in the order they were raised."""


class FlagListQuery(PageQuery):
    """Filters of the flag list."""

    site: SiteCode = None
    status: FlagStatus | None = None
    changed_since: Instant | None = changed_since_field("only flags raised or changed")


class QueryList(Page[QueryThread]):
    """One page of queries, in the order they were raised."""


class QueryListQuery(PageQuery):
    """Filters of the query list."""

    site: SiteCode = None
    status: QueryStatus | None = None


def _visit_codes(visit_ids: set[int]) -> dict[int, str]:
    """Visit codes by visit id (one query)."""
    if not visit_ids:
        return {}
    rows = db.session.execute(
        select(Visit.id, VisitDefinition.code).join(VisitDefinition, VisitDefinition.id == Visit.definition_id).where(Visit.id.in_(visit_ids))
    )
    return {visit_id: code for visit_id, code in rows}


@bp.get("/studies/<study_code>/flags")
@checked_first(study_visible, gives="study")
@spec.validate(resp=Response(HTTP_200=FlagList, **ERRORS), tags=["flags and queries"])
def flags(study_code: str, query: FlagListQuery, study: Study):
    """Flags of the study at the user's sites where their role sees flags; filtered by site, status, changes since."""
    sites = list_sites(study, Action.VIEW_FLAGS, query.site)
    stmt = select(Flag).where(Flag.study_id == study.id, Flag.site_id.in_([site.id for site in sites]))
    if query.status is not None:
        stmt = stmt.where(Flag.status == query.status)
    if query.changed_since is not None:
        stmt = stmt.where(or_(Flag.raised_at >= query.changed_since, audited_since(Flag, query.changed_since)))
    items, cursor = page(stmt.options(joinedload(Flag.subject).joinedload(Subject.site)), Flag.id, query)
    visits = _visit_codes({flag.visit_id for flag in items if flag.visit_id is not None})
    return FlagList(
        items=[
            FlagOut(
                id=flag.id,
                kind=flag.kind,
                safety=flag.safety,
                status=flag.status,
                subject_code=flag.subject.subject_code,
                site=flag.subject.site.code,
                visit_code=visits.get(flag.visit_id) if flag.visit_id is not None else None,
                message=flag.message,
                raised_at=flag.raised_at,
                closed_at=flag.closed_at,
                decision_reason=flag.decision_reason,
            )
            for flag in items
        ],
        next_cursor=cursor,
    )


@bp.get("/studies/<study_code>/queries")
@checked_first(study_visible, gives="study")
@spec.validate(resp=Response(HTTP_200=QueryList, **ERRORS), tags=["flags and queries"])
def queries(study_code: str, query: QueryListQuery, study: Study):
    """Queries of the study at the user's sites where their role sees them, with their threads; filtered by site and status."""
    sites = list_sites(study, Action.VIEW_AUDIT, query.site)
    stmt = (
        select(DataQuery)
        .join(Subject, Subject.id == DataQuery.subject_id)
        .where(Subject.study_id == study.id, Subject.site_id.in_([site.id for site in sites]))
        .options(
            joinedload(DataQuery.entry).joinedload(CrfEntry.subject).joinedload(Subject.site),
            joinedload(DataQuery.entry).joinedload(CrfEntry.visit).joinedload(Visit.definition),
            joinedload(DataQuery.raised_by),
            selectinload(DataQuery.messages).joinedload(QueryMessage.author),
        )
    )
    if query.status is not None:
        stmt = stmt.where(DataQuery.status == query.status)
    items, cursor = page(stmt, DataQuery.id, query)
    return QueryList(items=[query_thread(item) for item in items], next_cursor=cursor)
