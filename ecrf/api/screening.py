"""The screening log through the API, and enrolment from an eligible screening record.

Enrolment runs `enrol_from_screening`, as the enrolment page does, with the fields that page asks for the study:
the consent date always; day 0 (and its time where the protocol times it) unless day 0 is the randomization, which
is now; the cohort where the protocol lets the doctor choose it. A field the page does not ask for that study is
refused (422) rather than ignored. A record already enrolled or declined is a conflict (409), so the loser of two
enrolments sent at once is told who was enrolled; with an Idempotency-Key, the same request sent twice gets the
first answer again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Annotated, Any

from flask import Response as FlaskResponse
from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ecrf.access import Action, can, require, screening_or_404
from ecrf.api.blueprint import bp
from ecrf.api.bodies import parsed_body
from ecrf.api.paging import Page, PageQuery, page
from ecrf.api.scope import IsoDate, IsoTime, SiteCode, checked_first, list_sites, study_visible
from ecrf.api.spec import ERRORS, ApiError, Problems, spec
from ecrf.api.subjects import SubjectOut, subject_out, subject_url, with_visits
from ecrf.api.writing import Answer, IdempotencyHeaders, api_write
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod
from ecrf.randomization.services import ListExhausted
from ecrf.screening.models import ScreeningOutcome, ScreeningRecord
from ecrf.screening.services import enrol_from_screening, report_exhausted_list
from ecrf.studies.models import Study
from ecrf.subjects.models import Subject


class ScreeningOut(BaseModel):
    """A screened patient (by screening number; no names, no birth dates)."""

    screening_number: str = Field(description="e.g. SCR-DEF-SH01-0003")
    site: str
    screening_date: date
    outcome: ScreeningOutcome
    failed_criteria: list[str] = Field(description="codes of the criteria not met (inclusion) or met (exclusion)")
    subject_code: str | None = Field(description="the subject enrolled from it, if any")
    may_enrol: bool = Field(description="eligible, and the user's role may enrol at its site")


class ScreeningList(Page[ScreeningOut]):
    """One page of the screening log, in the order records were made."""


class ScreeningListQuery(PageQuery):
    """Filters of the screening log."""

    site: SiteCode = None
    outcome: ScreeningOutcome | None = Field(default=None, description="e.g. eligible: the records one may enrol from")


class EnrolBody(BaseModel):
    """Enrolment of an eligible screened patient: what the enrolment page asks for the study."""

    model_config = ConfigDict(extra="forbid")

    consent_date: IsoDate = Field(description="informed consent date: not after today at the site, not after day 0")
    index_date: IsoDate | None = Field(
        default=None, description="day 0 (e.g. the procedure date); required unless day 0 is the randomization (then: not asked)"
    )
    index_time: IsoTime | None = Field(default=None, description="time of day 0, the site's local time, where the protocol times day 0")
    arm: Annotated[str, Field(max_length=40)] | None = Field(
        default=None, description="the cohort's code, where the protocol lets the doctor choose it (else: not asked)"
    )


def screening_out(record: ScreeningRecord) -> ScreeningOut:
    """A screening record as the API gives it to the current user."""
    return ScreeningOut(
        screening_number=record.screening_number,
        site=record.site.code,
        screening_date=record.screening_date,
        outcome=record.outcome,
        failed_criteria=list(record.failed_criteria),
        subject_code=record.subject.subject_code if record.subject else None,
        may_enrol=record.enrollable and can(current_user, Action.ENROL, record.study_id, record.site_id),
    )


@bp.get("/studies/<study_code>/screening")
@checked_first(study_visible, gives="study")
@spec.validate(resp=Response(HTTP_200=ScreeningList, **ERRORS), tags=["screening"])
def screening(study_code: str, query: ScreeningListQuery, study: Study):
    """The screening log of the user's sites (the records to enrol from: `outcome=eligible`)."""
    sites = list_sites(study, Action.VIEW_SCREENING, query.site)
    stmt = select(ScreeningRecord).where(ScreeningRecord.study_id == study.id, ScreeningRecord.site_id.in_([site.id for site in sites]))
    if query.outcome is not None:
        stmt = stmt.where(ScreeningRecord.outcome == query.outcome)
    stmt = stmt.options(joinedload(ScreeningRecord.site), joinedload(ScreeningRecord.subject))
    items, cursor = page(stmt, ScreeningRecord.id, query)
    return ScreeningList(items=[screening_out(record) for record in items], next_cursor=cursor)


def enrolling(number: str) -> ScreeningRecord:
    """The screening record, if the user sees it (else 404) and may enrol at its site (else 403)."""
    record = screening_or_404(current_user, number)
    require(current_user, Action.ENROL, record.study_id, record.site_id)
    return record


def _unasked(record: ScreeningRecord, body: EnrolBody) -> list[tuple[str | None, str]]:
    """Fields sent that the enrolment page does not ask for this study (their values would be ignored there)."""
    protocol = protocol_for(record.study.code)
    problems: list[tuple[str | None, str]] = []
    if protocol.index.event == "randomization":
        for name in ("index_date", "index_time"):
            if getattr(body, name) is not None:
                problems.append((name, f"{name}: not asked in {record.study.short_title}: day 0 is the randomization, taken now."))
    elif not protocol.index.with_time and body.index_time is not None:
        problems.append(("index_time", f"index_time: not asked in {record.study.short_title}: its day 0 has no time."))
    if protocol.allocation.method is not AllocationMethod.CHOSEN and body.arm is not None:
        problems.append(("arm", f"arm: not asked in {record.study.short_title}: its arm is {protocol.allocation.method.value.replace('_', ' ')}, not chosen."))
    return problems


def _alerting_when_the_list_is_used_up(view: Callable[..., FlaskResponse]) -> Callable[..., FlaskResponse]:
    """An enrolment refused because the randomization list is used up alerts the data manager (committed on its
    own, as the enrolment page does) and answers 409."""

    @wraps(view)
    def run(number: str, **kwargs: Any) -> FlaskResponse:
        try:
            return view(number=number, **kwargs)
        except ListExhausted as error:
            db.session.rollback()
            message = report_exhausted_list(screening_or_404(current_user, number), error)
            db.session.commit()
            raise ApiError.one(409, message) from error

    return run


@bp.post("/screening/<number>/enrol")
@spec.validate(
    json=EnrolBody, headers=IdempotencyHeaders, resp=Response(HTTP_201=SubjectOut, HTTP_409=Problems, **ERRORS), tags=["screening"], skip_validation=True
)
@_alerting_when_the_list_is_used_up
@api_write(
    check=enrolling,
    gives="record",
    on_race=lambda: ApiError.one(409, "Someone else changed this screening record at the same moment; nothing was enrolled. Read it again, then retry."),
)
def enrol(number: str, record: ScreeningRecord) -> Answer:
    """Enrol an eligible screened patient (randomized studies allocate the arm at once); 201 with the subject."""
    json = parsed_body(EnrolBody)
    problems = _unasked(record, json)
    if problems:
        raise InvalidInput(problems)
    chosen = protocol_for(record.study.code).allocation.method is AllocationMethod.CHOSEN
    try:
        enrolled = enrol_from_screening(
            record,
            consent_date=json.consent_date,
            index_date=json.index_date,
            index_time=json.index_time,
            arm_code=json.arm if chosen else None,
            by=current_user,
        )
    except InvalidInput as error:
        if record.decided:  # enrolled or declined, before or during this request
            raise ApiError(409, list(error.problems)) from error
        raise
    subject = db.session.scalar(with_visits(select(Subject).where(Subject.id == enrolled.id)).execution_options(populate_existing=True))
    assert subject is not None
    return Answer(subject_out(subject), status=201, headers={"Location": subject_url(subject)})
