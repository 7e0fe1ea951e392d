"""Subjects and their visits through the API: reading them, recording a visit's date or that it was missed.

A subject's arm is given only to users whose role at its site may see it (`Action.SEE_ARM`): for a blinded
assessor `arm` is always null and `arm_shown` false, so a client tells "blinded" from "not yet randomized"
(`arm_shown` true, `arm` null) without the arm ever being sent. A visit's window status is the one
`ecrf.visits.windows.window_status` decides, on the site's calendar.

`changed_since` (subject list): subjects with an audit row about them at or after that instant, i.e. any change
of the subject's own row, its visits, its form entries and their items, their signatures and queries, its flags'
decisions (everything the audit trail files under the subject). Flags being raised are not audited and so do not
count here: the flag list has its own `changed_since`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from flask import abort, url_for
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from sqlalchemy import Select, exists, select
from sqlalchemy.orm import joinedload, selectinload

from ecrf.access import Action, can, may_record_visit, subject_or_404, visit_or_404
from ecrf.api.blueprint import bp
from ecrf.api.bodies import parsed_body
from ecrf.api.paging import Page, PageQuery, page
from ecrf.api.scope import Instant, IsoDate, SiteCode, body_fields, changed_since_field, checked_first, list_sites, study_visible
from ecrf.api.spec import ERRORS, spec
from ecrf.api.writing import Answer, IdempotencyHeaders, api_write
from ecrf.audit.models import AuditEvent
from ecrf.clock import site_today
from ecrf.studies.models import Study
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit
from ecrf.visits.services import mark_missed, record_visit_date
from ecrf.visits.windows import WindowStatus

# -- representations ---------------------------------------------------------------------------------------------


class ArmOut(BaseModel):
    """An arm (or cohort) of a study."""

    code: str
    label: str


class VisitOut(BaseModel):
    """A scheduled visit, its window (fixed at enrolment, site calendar, both ends included) and its status."""

    code: str = Field(description="the protocol's visit code, e.g. m3")
    label: str
    target_date: date
    window_start: date = Field(description="earliest day of the window (inclusive)")
    window_end: date = Field(description="latest day of the window (inclusive)")
    visit_date: date | None = Field(description="the date the visit took place, on the site's calendar")
    missed: bool
    missed_reason: str | None
    status: WindowStatus = Field(description="the visit's window status today on the site's calendar")


class SubjectOut(BaseModel):
    """A study subject (pseudonymous: its study subject ID, never a name) with its visits."""

    subject_code: str = Field(description="study subject ID, e.g. DEF-SH01-0007")
    study: str = Field(description="study code")
    site: str = Field(description="site code")
    status: SubjectStatus
    status_date: date | None = Field(description="the date the status took effect (empty while active)")
    status_reason: str | None
    consent_date: date
    index_date: date = Field(description="day 0 of the schedule, on the site's calendar")
    index_at: datetime | None = Field(description="the index instant (UTC), where the protocol's index event has a time")
    enrolled_at: datetime
    randomized_at: datetime | None
    arm_shown: bool = Field(description="false for a user blinded at the subject's site: `arm` is then always null")
    arm: ArmOut | None = Field(description="null where not shown (blinded) or not yet randomized")
    visits: list[VisitOut]


class SubjectList(Page[SubjectOut]):
    """One page of subjects, in the order they were enrolled."""


class SubjectListQuery(PageQuery):
    """Filters of the subject list."""

    site: SiteCode = None
    status: SubjectStatus | None = None
    changed_since: Instant | None = changed_since_field("only subjects with a change audited")


class VisitDateBody(BaseModel):
    """The date a visit took place, as the visit page asks it."""

    model_config = ConfigDict(extra="forbid")

    visit_date: IsoDate = Field(description="on the site's calendar; not after today there, not before day 0")
    deviation_reason: Annotated[str, Field(max_length=500)] | None = Field(
        default=None, description="required when the date is outside the window (a protocol deviation)"
    )
    reason_for_change: Annotated[str, Field(max_length=300)] | None = Field(
        default=None, description="required when forms of the visit are signed or source-verified (their signatures are voided)"
    )


class MissedBody(BaseModel):
    """Why a visit did not and will not take place."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(max_length=500)] = Field(description="why the visit was missed (no names); required")


def visit_out(visit: Visit, today: date) -> VisitOut:
    """A visit as the API gives it, its status on the site-local date `today`."""
    return VisitOut(
        code=visit.definition.code,
        label=visit.definition.label,
        target_date=visit.target_date,
        window_start=visit.window_start,
        window_end=visit.window_end,
        visit_date=visit.visit_date,
        missed=visit.missed,
        missed_reason=visit.missed_reason,
        status=visit.status(today),
    )


def subject_out(subject: Subject) -> SubjectOut:
    """A subject as the API gives it to the current user: the arm only where their role may see it."""
    shown = can(current_user, Action.SEE_ARM, subject.study_id, subject.site_id)
    arm = subject.arm if shown else None
    today = site_today(subject.site)
    return SubjectOut(
        subject_code=subject.subject_code,
        study=subject.study.code,
        site=subject.site.code,
        status=subject.status,
        status_date=subject.status_date,
        status_reason=subject.status_reason,
        consent_date=subject.consent_date,
        index_date=subject.index_date,
        index_at=subject.index_at,
        enrolled_at=subject.enrolled_at,
        randomized_at=subject.randomized_at,
        arm_shown=shown,
        arm=ArmOut(code=arm.code, label=arm.label) if arm is not None else None,
        visits=[visit_out(visit, today) for visit in subject.visits],
    )


def with_visits(stmt: Select) -> Select:
    """Load what `subject_out` reads with the subjects (a fixed number of queries, whatever their number)."""
    return stmt.options(selectinload(Subject.visits).joinedload(Visit.definition), joinedload(Subject.site), joinedload(Subject.study), joinedload(Subject.arm))


def subject_url(subject: Subject) -> str:
    """The API address of a subject."""
    return url_for("api.subject", subject_code=subject.subject_code)


# -- reading -----------------------------------------------------------------------------------------------------


@bp.get("/studies/<study_code>/subjects")
@checked_first(study_visible, gives="study")
@spec.validate(resp=Response(HTTP_200=SubjectList, **ERRORS), tags=["subjects"])
def subjects(study_code: str, query: SubjectListQuery, study: Study):
    """Subjects of the study at the user's sites, with their visits; filtered by site, status, changes since."""
    sites = list_sites(study, Action.VIEW, query.site)
    stmt = select(Subject).where(Subject.study_id == study.id, Subject.site_id.in_([site.id for site in sites]))
    if query.status is not None:
        stmt = stmt.where(Subject.status == query.status)
    if query.changed_since is not None:
        stmt = stmt.where(exists().where(AuditEvent.subject_id == Subject.id, AuditEvent.at >= query.changed_since))
    items, cursor = page(with_visits(stmt), Subject.id, query)
    return SubjectList(items=[subject_out(subject) for subject in items], next_cursor=cursor)


@bp.get("/subjects/<subject_code>")
@spec.validate(resp=Response(HTTP_200=SubjectOut, **ERRORS), tags=["subjects"])
def subject(subject_code: str):
    """A subject with its visits, windows and window statuses."""
    return subject_out(subject_or_404(current_user, subject_code))


# -- recording visits --------------------------------------------------------------------------------------------


def recordable_visit(subject_code: str, visit_code: str) -> Visit:
    """The visit, if the user sees its subject (else 404) and may record it (else 403), as on the visit page."""
    visit = visit_or_404(current_user, subject_code, visit_code)
    if not may_record_visit(current_user, visit.subject, visit):
        abort(403)
    return visit


@bp.post("/subjects/<subject_code>/visits/<visit_code>/date")
@spec.validate(json=VisitDateBody, headers=IdempotencyHeaders, resp=Response(HTTP_200=VisitOut, **ERRORS), tags=["visits"], skip_validation=True)
@api_write(check=recordable_visit, gives="visit")
def record_date(subject_code: str, visit_code: str, visit: Visit) -> Answer:
    """Record the date a visit took place (outside its window only with a deviation reason), as the visit page does."""
    json = parsed_body(VisitDateBody)
    record_visit_date(visit, json.visit_date, by=current_user, deviation_reason=json.deviation_reason, reason_for_change=json.reason_for_change)
    return Answer(visit_out(visit, site_today(visit.subject.site)))


@bp.post("/subjects/<subject_code>/visits/<visit_code>/missed")
@spec.validate(json=MissedBody, headers=IdempotencyHeaders, resp=Response(HTTP_200=VisitOut, **ERRORS), tags=["visits"], skip_validation=True)
@api_write(check=recordable_visit, gives="visit")
def record_missed(subject_code: str, visit_code: str, visit: Visit) -> Answer:
    """Mark a visit missed, with the reason (a protocol deviation), as the visit page does."""
    json = parsed_body(MissedBody)
    with body_fields({"missed_reason": "reason"}):
        mark_missed(visit, json.reason, by=current_user)
    return Answer(visit_out(visit, site_today(visit.subject.site)))
