"""Enrolment and subject listings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ecrf.access import scoped
from ecrf.auth.models import User
from ecrf.clock import now_utc, site_today, to_local
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod, IndexEvent
from ecrf.signals import subject_changed
from ecrf.studies.models import Arm, Site, Study
from ecrf.studies.services import skip_number, study_site, take_number
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus, compute_window


def enrol_subject(
    study: Study,
    site: Site,
    *,
    index_date: date,
    consent_date: date,
    arm_code: str | None = None,
    index_time: time | None = None,
    by: User | None = None,
    enrolment_date: date | None = None,
    subject_code: str | None = None,
) -> Subject:
    """Enrol a subject: give it the next study subject ID of the site (or `subject_code`, the ID it was given
    elsewhere, when an import brings it in) and create its visits.

    The day-0 visit is the index event (procedure or randomization), so its date is
    the index date; later visits wait for the coordinator to record them.
    Raises InvalidInput listing every date, time or arm that breaks the protocol.
    Randomized studies get no arm here; it comes from randomization.
    """
    protocol = protocol_for(study.code)
    participation = study_site(study, site)
    if participation is None:
        raise InvalidInput.at(None, f"Site {site.code} does not take part in {study.short_title}.")
    problems: list[tuple[str | None, str]] = []
    index_at = _check_index(protocol.index, site, index_date, index_time, problems)
    _check_consent(consent_date, index_date, protocol.index.label, enrolment_date or site_today(site), problems)
    arm = _arm_for(study, protocol.allocation.method, arm_code, problems)
    if subject_code is not None:
        _check_given_code(subject_code, problems)
    if problems:
        raise InvalidInput(problems)

    if subject_code is None:
        subject_code = f"{study.subject_prefix}-{site.code}-{take_number(participation, 'last_subject_number'):04d}"
    elif match := re.fullmatch(rf"{re.escape(study.subject_prefix)}-{re.escape(site.code)}-(\d{{1,9}})", subject_code):
        skip_number(participation, "last_subject_number", int(match.group(1)))  # the site's next ID follows it
    subject = Subject(
        subject_code=subject_code,
        study=study,
        site=site,
        arm=arm,
        index_date=index_date,
        index_at=index_at,
        consent_date=consent_date,
        enrolled_by_id=by.id if by else None,
    )
    db.session.add(subject)
    for definition in study.visit_definitions:
        window = compute_window(index_date, definition)
        db.session.add(
            Visit(
                subject=subject,
                definition=definition,
                target_date=window.target,
                window_start=window.start,
                window_end=window.end,
                visit_date=index_date if definition.target_day == 0 else None,
            )
        )
    db.session.flush()
    return subject


#: What a study subject ID given from outside may hold: letters, digits and - _ . (no spaces), as long as the column.
GIVEN_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


def _check_given_code(code: str, problems: list) -> None:
    """A study subject ID brought from elsewhere: a pseudonym of the ID's own form, not yet taken in any study."""
    if not GIVEN_CODE.fullmatch(code):
        problems.append(("subject_code", f"Study subject ID '{code}': use 1 to 32 letters, digits, '-', '_' or '.', starting with a letter or digit."))
    elif db.session.scalar(select(Subject.id).where(Subject.subject_code == code)) is not None:
        problems.append(("subject_code", f"Study subject ID '{code}': already taken by another subject."))


def _check_index(index: IndexEvent, site: Site, index_date: date, index_time: time | None, problems: list) -> datetime | None:
    """Day 0 may not lie in the future at the site; where it has a time, that is required. Returns the index instant."""
    today = site_today(site)
    if index_date > today:
        problems.append(("index_date", f"{index.label}: must not be after today at the site ({today.isoformat()})."))
    if not index.with_time:
        return None
    label = index.time_label
    if index_time is None:
        problems.append(("index_time", f"{label}: required for this study (windows in hours count from it); enter the site's local time as HH:MM."))
        return None
    index_at = datetime.combine(index_date, index_time, ZoneInfo(site.timezone))
    if index_date <= today and index_at > now_utc():
        problems.append(("index_time", f"{label}: must not be in the future (now {to_local(now_utc(), site.timezone):%H:%M} at the site)."))
    return index_at


def _check_consent(consent_date: date, index_date: date, index_label: str, enrolment_date: date, problems: list) -> None:
    """Consent comes first: not after the enrolment date, not after day 0."""
    if consent_date > enrolment_date:
        problems.append(("consent_date", f"Informed consent date: must not be after the enrolment date ({enrolment_date.isoformat()})."))
    elif consent_date > index_date:
        problems.append(("consent_date", f"Informed consent date: must be on or before the {index_label.lower()} ({index_date.isoformat()})."))


def _arm_for(study: Study, method: AllocationMethod, arm_code: str | None, problems: list) -> Arm | None:
    """The arm the subject starts in: the chosen cohort, the registry's only arm, or none until randomization."""
    arms = {arm.code: arm for arm in study.arms}
    if method is AllocationMethod.SINGLE_ARM:
        return next(iter(arms.values()))
    if method is AllocationMethod.RANDOMIZED:
        if arm_code:
            problems.append(("arm", f"Arm: {study.short_title} is randomized; the arm is assigned by randomization, not chosen."))
        return None
    if arm_code not in arms:
        allowed = ", ".join(arm.label for arm in arms.values())
        problems.append(("arm", f"Cohort: required; choose one of {allowed}."))
        return None
    return arms[arm_code]


@dataclass(frozen=True)
class SubjectRow:
    """A subject in a listing with its next visit due and that visit's status."""

    subject: Subject
    next_visit: Visit | None
    next_status: WindowStatus | None


def next_visit(subject: Subject, today: date) -> tuple[Visit | None, WindowStatus | None]:
    """The first visit still waiting for action (not done, missed or not applicable), with its status."""
    for visit in subject.visits:
        status = visit.status(today)
        if not status.is_done:
            return visit, status
    return None, None


def subject_page(study: Study, site: Site, page: int, per_page: int) -> tuple[list[SubjectRow], Pagination]:
    """One page of a site's subjects in a study, by subject ID, with their next visits; and where the page is in
    the list (`.page`, `.pages`, `.total`). A page past the end (a typed or an old link) is the last page."""
    stmt = (
        select(Subject)
        .where(Subject.study_id == study.id, Subject.site_id == site.id)
        .options(selectinload(Subject.visits).joinedload(Visit.definition), selectinload(Subject.arm))
        .order_by(Subject.subject_code)
    )
    pagination = db.paginate(stmt, page=page, per_page=per_page, max_per_page=per_page, error_out=False)
    if page > max(pagination.pages, 1):
        pagination = db.paginate(stmt, page=max(pagination.pages, 1), per_page=per_page, max_per_page=per_page, error_out=False)
    today = site_today(site)
    return [SubjectRow(subject, *next_visit(subject, today)) for subject in pagination.items], pagination


#: Statuses a subject leaves the study with, before completing it.
LEAVING = (SubjectStatus.WITHDRAWN, SubjectStatus.LOST_TO_FOLLOW_UP, SubjectStatus.DIED)


def end_participation(subject: Subject, status: SubjectStatus | None, on: date, reason: str, by: User | None = None) -> None:
    """Withdrawal, loss to follow-up or death: the visits due after `on` no longer apply;
    nothing already entered changes."""
    problems: list[tuple[str | None, str]] = []
    if status not in LEAVING:
        problems.append(("status", "Status: choose withdrawn, lost to follow-up or died."))
    if subject.status is not SubjectStatus.ACTIVE:
        problems.append((None, f"{subject.subject_code} is already {subject.status.label} (since {subject.status_date})."))
    today = site_today(subject.site)
    if on > today:
        problems.append(("status_date", f"Date: must not be after today at the site ({today.isoformat()})."))
    elif on < subject.consent_date:
        problems.append(("status_date", f"Date: must not be before the informed consent date ({subject.consent_date.isoformat()})."))
    if not reason.strip():
        problems.append(("reason", "Reason: required; say why (no names)."))
    if problems:
        raise InvalidInput(problems)
    assert status is not None  # a status not in LEAVING was refused above
    subject.status, subject.status_date, subject.status_reason = status, on, reason.strip()
    db.session.flush()
    subject_changed.send(subject, by=by)  # its receiver refreshes the subject's flags


#: Longest text the subject search takes (a study subject ID is at most 32 characters).
SEARCH_LENGTH = 32
#: At most this many subjects are listed for a search (the rest is counted).
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class Found:
    """What a subject search found among the user's subjects: the one subject with exactly that ID, or those whose ID
    contains the text (at most SEARCH_LIMIT, in ID order), and how many there are in all."""

    exact: Subject | None
    subjects: list[Subject]
    total: int


def find_subjects(user: User, text: str) -> Found:
    """The user's subjects (their sites only, as everywhere) whose study subject ID is `text` or contains it; case and
    surrounding spaces do not matter. A text too long to be an ID is refused naming the field."""
    wanted = " ".join((text or "").split()).upper()
    if len(wanted) > SEARCH_LENGTH:
        raise InvalidInput.at("q", f"Subject ID: at most {SEARCH_LENGTH} characters (you gave {len(wanted)}).")
    if not wanted:
        return Found(None, [], 0)
    like = "%" + wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matching = scoped(select(Subject).where(func.upper(Subject.subject_code).like(like, escape="\\")), user)
    total = db.session.scalar(select(func.count()).select_from(matching.subquery())) or 0
    subjects = list(db.session.scalars(matching.order_by(Subject.subject_code).limit(SEARCH_LIMIT)))
    exact = next((subject for subject in subjects if subject.subject_code.upper() == wanted), None)
    return Found(exact, subjects, total)
