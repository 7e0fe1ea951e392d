"""Screening and enrolment: the screening log, eligibility, consent, and allocation at enrolment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ecrf.alerts.services import raise_alert
from ecrf.audit.trail import reason_of
from ecrf.auth.models import User
from ecrf.clock import local_today, now_utc, site_today
from ecrf.db import update_where
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod
from ecrf.randomization.services import ListExhausted, allocate, stratum_key
from ecrf.screening.eligibility import derive, failed_gates, judge, shown_values
from ecrf.screening.models import ScreeningOutcome, ScreeningRecord
from ecrf.studies.models import Site, Study
from ecrf.studies.services import study_site, take_number
from ecrf.subjects.models import Subject
from ecrf.subjects.services import enrol_subject


def save_screening(
    study: Study,
    site: Site,
    *,
    screening_date: date,
    values: dict[str, str],
    answers: dict[str, bool | None],
    strata: dict[str, str],
    by: User | None,
    record: ScreeningRecord | None = None,
    at: datetime | None = None,
) -> ScreeningRecord:
    """Create or correct a screening record; its outcome follows from the protocol's criteria.

    `values` holds the numeric screening values as text (dates and date-times, ISO, for
    the derived ones), judged as of `at` (default now). A record whose patient is
    enrolled can no longer change.
    """
    if record is not None and record.outcome in DECIDED:
        raise _already_decided(record)
    today = site_today(site)
    if screening_date > today:
        raise InvalidInput.at("screening_date", f"Screening date: must not be after today at the site ({today.isoformat()}).")
    if record is None:
        participation = study_site(study, site)
        if participation is None:
            raise InvalidInput.at(None, f"Site {site.code} does not take part in {study.short_title}.")
        number = take_number(participation, "last_screening_number")
        record = ScreeningRecord(
            screening_number=f"SCR-{study.subject_prefix}-{site.code}-{number:04d}",
            study=study,
            site=site,
            created_by_id=by.id if by else None,
        )
        db.session.add(record)
    else:
        _claim_undecided(record)  # a decline or an enrolment taken meanwhile by another request stands
    record.screening_date, record.values, record.answers, record.strata = screening_date, values, answers, strata
    record.outcome, record.failed_criteria = _judged_outcome(study, values, answers, screening_date, at or now_utc())
    record.updated_at, record.updated_by_id = now_utc(), by.id if by else None
    db.session.flush()
    return record


#: Outcomes that are decisions, not judgements of the values: they change only by an explicit action.
DECIDED = (ScreeningOutcome.ENROLLED, ScreeningOutcome.DECLINED_CONSENT)
DECLINED_REASON = "the patient declined consent"


def _decide(record: ScreeningRecord, outcome: ScreeningOutcome, by: User | None) -> None:
    """Move an undecided record to a decided outcome with one conditional UPDATE, so that of two requests
    deciding at once (two enrolments, an enrolment and a decline) exactly one does; the other is told why."""
    _claim_undecided(record, outcome=outcome)
    record.outcome = outcome
    record.updated_at, record.updated_by_id = now_utc(), by.id if by else None


def _claim_undecided(record: ScreeningRecord, **values) -> None:
    """Write to the record only while it is undecided and as this request read it (its last change is the one
    seen), with one conditional UPDATE; else say why: a decision, or a correction, made a moment ago by another
    request. So an enrolment never goes ahead on values corrected meanwhile, nor a correction over a decline."""
    seen = record.updated_at  # (also loads the outcome, so that the ORM records its old and new value in the audit trail)
    unchanged = (
        ScreeningRecord.id == record.id,
        ScreeningRecord.subject_id.is_(None),
        ScreeningRecord.outcome.not_in(DECIDED),
        ScreeningRecord.updated_at == seen,
    )
    if not update_where(db.session, ScreeningRecord, *unchanged, updated_at=now_utc(), **values):
        db.session.refresh(record)
        if record.outcome in DECIDED:
            raise _already_decided(record)
        raise InvalidInput.at(
            None,
            (f"{record.screening_number} was changed by someone else a moment ago, so nothing was done: look at the screening as it is now, then try again."),
        )


def _already_decided(record: ScreeningRecord) -> InvalidInput:
    if record.outcome is ScreeningOutcome.ENROLLED and record.subject is not None:
        return InvalidInput.at(
            None,
            (f"{record.screening_number} is already enrolled as {record.subject.subject_code}: its screening no longer changes, and nothing was done twice."),
        )
    return InvalidInput.at(
        None,
        (
            f"{record.screening_number}: the patient declined consent and cannot be enrolled; the screening no longer changes. "
            "If the patient has changed their mind, reverse the decline first, with the reason."
        ),
    )


def decline_consent(record: ScreeningRecord, by: User | None) -> None:
    """The patient declined consent: the record leaves the pool of patients to enrol (audited, with that reason)."""
    with reason_of(db.session(), DECLINED_REASON):
        _decide(record, ScreeningOutcome.DECLINED_CONSENT, by)


def reverse_decline(record: ScreeningRecord, reason: str, by: User | None, at: datetime | None = None) -> None:
    """The patient who declined consent has changed their mind: the outcome is judged again from the values,
    an explicit action whose reason goes into the audit trail."""
    if record.outcome is not ScreeningOutcome.DECLINED_CONSENT:
        raise InvalidInput.at(None, f"{record.screening_number} is {record.outcome.label}, not declined consent.")
    if not (reason or "").strip():
        raise InvalidInput.at("reason", "Reason: required to reverse a declined consent; say why (no names).")
    if len(reason.strip()) > 300:
        raise InvalidInput.at("reason", "Reason: at most 300 characters.")
    with reason_of(db.session(), reason.strip()):
        record.outcome, record.failed_criteria = _judged_outcome(record.study, record.values, record.answers, record.screening_date, at or now_utc())
        record.updated_at, record.updated_by_id = now_utc(), by.id if by else None


def _judged_outcome(study: Study, values: dict, answers: dict, screening_date: date, at: datetime) -> tuple[ScreeningOutcome, list[str]]:
    """The outcome the protocol's criteria give, and the criteria failed."""
    judgement = judge(protocol_for(study.code), derive(values, counted_to=screening_date, at=at), answers)
    outcome = ScreeningOutcome.SCREEN_FAILURE if judgement.failed else ScreeningOutcome.IN_PROGRESS if judgement.unanswered else ScreeningOutcome.ELIGIBLE
    return outcome, judgement.failed


def criterion_texts(study: Study, codes: list[str]) -> list[str]:
    """The protocol texts of criteria, by code."""
    eligibility = protocol_for(study.code).eligibility
    texts = {c.code: c.text.strip() for c in eligibility.inclusion + eligibility.exclusion}
    return [texts.get(code, code) for code in codes]


def enrol_from_screening(
    record: ScreeningRecord,
    *,
    consent_date: date,
    index_date: date | None = None,
    index_time: time | None = None,
    arm_code: str | None = None,
    by: User | None = None,
    at: datetime | None = None,
) -> Subject:
    """Enrol an eligible screened patient; randomized studies allocate the arm in the same transaction.

    Eligibility is judged again now: days since a dated event (DVT symptom onset) are
    counted to the enrolment date, hours (last known well) to this instant. Refused,
    with the reasons and the values they were judged on, when a criterion is not met,
    consent comes after the enrolment date, or a randomization condition of the
    protocol does not hold. Where day 0 is the randomization, day 0 is now (`at`) on
    the site's calendar.
    """
    at = at or now_utc()
    study, site = record.study, record.site
    protocol = protocol_for(study.code)
    if record.outcome in DECIDED:
        raise _already_decided(record)
    enrolment_date = local_today(site.timezone, at)
    numbers = derive(record.values, counted_to=enrolment_date, at=at)
    judgement = judge(protocol, numbers, record.answers)
    if not judgement.eligible:
        criteria = {c.code: c for c in protocol.eligibility.inclusion + protocol.eligibility.exclusion}

        def explained(code: str) -> str:
            entered = shown_values(criteria[code], record.values, numbers, counted_to=f"enrolment date {enrolment_date.isoformat()}")
            return criteria[code].text.strip() + (f" (entered: {entered})" if entered else "")

        reasons = [explained(code) for code in judgement.failed] + [f"not yet answered: {text}" for text in criterion_texts(study, judgement.unanswered)]
        raise InvalidInput([(None, "Not eligible; these criteria are not met:")] + [(None, reason) for reason in reasons])
    randomized = protocol.allocation.method is AllocationMethod.RANDOMIZED
    if randomized:
        closed = failed_gates(protocol, numbers)
        if closed:
            raise InvalidInput(
                [(None, f"Randomization is not allowed yet: {gate.text.strip()} ({_entered(gate, record.values, numbers)}).") for gate in closed]
            )
    if protocol.index.event == "randomization":
        local = at.astimezone(ZoneInfo(site.timezone))
        # The whole instant, seconds included: the randomization time starts clocks counted in hours (ANGEL-ICAS sICH).
        index_date, index_time = local.date(), local.time() if protocol.index.with_time else None
    elif index_date is None:
        raise InvalidInput.at("index_date", f"{protocol.index.label}: required; enter it as YYYY-MM-DD.")
    # One screening record enrols at most one subject: the first write claims it (a second enrolment at the
    # same moment waits for this one's commit, then finds the record enrolled and is told so).
    _decide(record, ScreeningOutcome.ENROLLED, by)
    subject = enrol_subject(
        study,
        site,
        index_date=index_date,
        consent_date=consent_date,
        arm_code=arm_code,
        index_time=index_time,
        by=by,
        enrolment_date=enrolment_date,
    )
    if randomized:
        allocate(subject, stratum_key(site.code, record.strata), at=at, by=by)
    record.subject = subject
    db.session.flush()
    return subject


def report_exhausted_list(record: ScreeningRecord, error: ListExhausted) -> str:
    """After an enrolment refused because the stratum's randomization list is used up (and rolled back): alert the
    data manager (once while the alert is open); returns what the user is told."""
    raise_alert("randomization_list_exhausted", record.study, record.site, f"{error} {record.screening_number} could not be randomized.")
    return f"{error} The data manager has been alerted; the patient is not enrolled yet."


def _entered(gate, values: dict, numbers: dict) -> str:
    shown = shown_values(gate, values, numbers, counted_to="enrolment date")
    return "entered: " + shown if shown else "no value entered"


def screening_log(
    study: Study,
    site_ids: list[int],
    *,
    site_id: int | None = None,
    outcome: ScreeningOutcome | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Sequence[ScreeningRecord]:
    """Screening records of the given sites, filtered, newest first."""
    stmt = select(ScreeningRecord).where(ScreeningRecord.study_id == study.id, ScreeningRecord.site_id.in_(site_ids))
    if site_id is not None:
        stmt = stmt.where(ScreeningRecord.site_id == site_id)
    if outcome is not None:
        stmt = stmt.where(ScreeningRecord.outcome == outcome)
    if start is not None:
        stmt = stmt.where(ScreeningRecord.screening_date >= start)
    if end is not None:
        stmt = stmt.where(ScreeningRecord.screening_date <= end)
    return db.session.scalars(stmt.order_by(ScreeningRecord.screening_date.desc(), ScreeningRecord.screening_number.desc())).all()


@dataclass
class SiteFlow:
    """The numbers a CONSORT diagram needs, for one site (or the whole study)."""

    site: Site | None
    screened: int = 0
    screen_failures: int = 0
    declined: int = 0
    failed_by_criterion: Counter = field(default_factory=Counter)
    enrolled_by_arm: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)

    @property
    def enrolled(self) -> int:
        return sum(self.enrolled_by_arm.values())

    def add(self, other: SiteFlow) -> None:
        self.screened += other.screened
        self.screen_failures += other.screen_failures
        self.declined += other.declined
        for mine, theirs in (
            (self.failed_by_criterion, other.failed_by_criterion),
            (self.enrolled_by_arm, other.enrolled_by_arm),
            (self.by_status, other.by_status),
        ):
            mine.update(theirs)


def study_flow(study: Study, sites: list[Site]) -> tuple[list[SiteFlow], SiteFlow]:
    """Per-site flow counts and their total (three queries, whatever the number of subjects)."""
    flows = {site.id: SiteFlow(site) for site in sites}
    for site_id, outcome, failed in db.session.execute(
        select(ScreeningRecord.site_id, ScreeningRecord.outcome, ScreeningRecord.failed_criteria).where(
            ScreeningRecord.study_id == study.id, ScreeningRecord.site_id.in_(flows)
        )
    ):
        flow = flows[site_id]
        flow.screened += 1
        if outcome is ScreeningOutcome.SCREEN_FAILURE:
            flow.screen_failures += 1
            flow.failed_by_criterion.update(failed)
        elif outcome is ScreeningOutcome.DECLINED_CONSENT:
            flow.declined += 1
    for site_id, arm_id, count in db.session.execute(
        select(Subject.site_id, Subject.arm_id, func.count(Subject.id))
        .where(Subject.study_id == study.id, Subject.site_id.in_(flows))
        .group_by(Subject.site_id, Subject.arm_id)
    ):
        flows[site_id].enrolled_by_arm[arm_id] += count
    for site_id, status, count in db.session.execute(
        select(Subject.site_id, Subject.status, func.count(Subject.id))
        .where(Subject.study_id == study.id, Subject.site_id.in_(flows))
        .group_by(Subject.site_id, Subject.status)
    ):
        flows[site_id].by_status[status] += count
    total = SiteFlow(None)
    for flow in flows.values():
        total.add(flow)
    return list(flows.values()), total
