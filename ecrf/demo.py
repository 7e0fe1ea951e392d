"""Synthetic demo data: sites in real time zones, one user per role, about 200 subjects.

Everything here is invented. Subjects have study subject IDs only; no names,
no birth dates. Running it again creates nothing new (sites, users and
memberships are looked up by their keys; each study-site is filled up to its
quota of subjects once).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ecrf.auth.models import Membership, Role, User
from ecrf.clock import site_today
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod
from ecrf.randomization.models import RandomizationSlot
from ecrf.randomization.services import generate_list
from ecrf.screening.eligibility import eligible_example, values_from_numbers
from ecrf.screening.services import decline_consent, enrol_from_screening, save_screening
from ecrf.studies.models import Site, Study, StudySite
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.subjects.services import LEAVING, end_participation
from ecrf.visits.services import record_visit_date

DEMO_PASSWORD = "demo-password"

#: code, name, IANA time zone, country
SITES = [
    ("SH01", "Shanghai Vascular and Heart Centre (demo)", "Asia/Shanghai", "CN"),
    ("HZ01", "Hangzhou Peripheral Vascular Unit (demo)", "Asia/Shanghai", "CN"),
    ("BJ01", "Beijing Stroke Centre (demo)", "Asia/Shanghai", "CN"),
    ("IT01", "Rome Vascular Surgery (demo)", "Europe/Rome", "IT"),
    ("DE01", "Berlin Angiology (demo)", "Europe/Berlin", "DE"),
    ("AT01", "Vienna Venous Centre (demo)", "Europe/Vienna", "AT"),
    ("US01", "New York Vein Institute (demo)", "America/New_York", "US"),
    ("US02", "Phoenix Vascular Clinic (demo)", "America/Phoenix", "US"),
    ("US03", "Los Angeles Thrombosis Center (demo)", "America/Los_Angeles", "US"),
]

#: (study, site) -> number of demo subjects (200 in all)
QUOTAS = {
    ("defier", "SH01"): 30,
    ("defier", "HZ01"): 20,
    ("precise-cal", "SH01"): 35,
    ("angel-icas", "BJ01"): 30,
    ("leg-deb", "IT01"): 15,
    ("leg-deb", "DE01"): 15,
    ("defiance", "DE01"): 12,
    ("defiance", "AT01"): 11,
    ("defiance", "US01"): 12,
    ("defiance", "US02"): 10,
    ("defiance", "US03"): 10,
}

#: The coordinator's and investigator's sites: every study is in reach of one login.
HOME = [("defier", "SH01"), ("precise-cal", "SH01"), ("angel-icas", "BJ01"), ("leg-deb", "DE01"), ("defiance", "DE01")]

#: email, full name, role, (study, site) pairs (None: every study-site)
USERS = [
    ("coordinator@example.org", "Demo Coordinator", Role.COORDINATOR, HOME),
    ("investigator@example.org", "Demo Investigator", Role.INVESTIGATOR, HOME),
    ("assessor@example.org", "Demo Blinded Assessor", Role.BLINDED_ASSESSOR, [("angel-icas", "BJ01")]),
    ("monitor@example.org", "Demo Monitor", Role.MONITOR, None),
    ("datamanager@example.org", "Demo Data Manager", Role.DATA_MANAGER, None),
    ("admin@example.org", "Demo Admin", Role.ADMIN, None),
]


@dataclass
class DemoReport:
    sites: int = 0
    users: int = 0
    subjects: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"Demo data: {self.sites} sites, {self.users} users and {self.subjects} subjects created."


def _get_or_create(model, defaults: dict | None = None, **keys):
    instance = db.session.scalar(select(model).filter_by(**keys))
    if instance is not None:
        return instance, False
    instance = model(**keys, **(defaults or {}))
    db.session.add(instance)
    db.session.flush()
    return instance, True


def load_demo(seed: int = 20261122) -> DemoReport:
    """Create the demo sites, users and subjects that are not there yet."""
    report = DemoReport()
    rng = random.Random(seed)
    studies = {study.code: study for study in db.session.scalars(select(Study))}
    sites = {}
    for code, name, tz, country in SITES:
        sites[code], created = _get_or_create(Site, {"name": name, "timezone": tz, "country": country}, code=code)
        report.sites += created
    for study_code, site_code in QUOTAS:
        _get_or_create(StudySite, study_id=studies[study_code].id, site_id=sites[site_code].id)
    for email, name, role, pairs in USERS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(email=email, full_name=name)
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
            db.session.flush()
            report.users += 1
        for study_code, site_code in pairs or QUOTAS:
            _get_or_create(Membership, user_id=user.id, study_id=studies[study_code].id, site_id=sites[site_code].id, role=role)
        report.logins.append((email, role.label))
    for study in studies.values():
        if study.allocation == "randomized" and not db.session.scalar(select(RandomizationSlot.id).where(RandomizationSlot.study_id == study.id).limit(1)):
            generate_list(study, protocol_for(study.code), seed=seed, per_stratum=max(quota for (code, _), quota in QUOTAS.items() if code == study.code) + 40)
    for (study_code, site_code), quota in QUOTAS.items():
        study, site = studies[study_code], sites[site_code]
        existing = db.session.scalar(select(func.count(Subject.id)).where(Subject.study_id == study.id, Subject.site_id == site.id)) or 0
        for _ in range(quota - existing):
            _demo_subject(study, site, rng)
            report.subjects += 1
    return report


def _demo_subject(study: Study, site: Site, rng: random.Random) -> Subject:
    """One synthetic patient screened, enrolled (randomized from the study's list where the study is
    randomized) on a day in the past two years, with a plausible visit history; now and then a
    screen failure, a refusal or a subject who leaves the study goes with it."""
    protocol = protocol_for(study.code)
    today = site_today(site)
    index_date = today - timedelta(days=rng.randint(0, 730))
    at = datetime.combine(index_date, time(rng.randint(0, 23), rng.choice([0, 15, 30, 45])), ZoneInfo(site.timezone))
    numbers, answers = eligible_example(protocol)
    roll = rng.random()
    if roll < 0.15:
        _demo_screen_failure(study, site, numbers, answers, index_date, at, rng)
    elif roll < 0.2:
        decline_consent(_demo_screening(study, site, numbers, answers, index_date, at), None)
    record = _demo_screening(study, site, numbers, answers, index_date, at)
    subject = enrol_from_screening(
        record,
        consent_date=index_date - timedelta(days=rng.randint(0, 3)),
        index_date=index_date,
        arm_code=rng.choice(study.arms).code if protocol.allocation.method is AllocationMethod.CHOSEN else None,
        at=at,
    )
    for visit in subject.visits[1:]:  # the day-0 visit is dated at enrolment
        visit_date = _demo_visit_date(visit.window_start, visit.window_end, today, rng)
        if visit_date is not None:
            record_visit_date(visit, visit_date, deviation_reason="Synthetic demo: patient travelling")
    if subject.status is SubjectStatus.ACTIVE and rng.random() < 0.06 and index_date < today - timedelta(days=40):
        status = rng.choice(LEAVING)
        end_participation(subject, status, index_date + timedelta(days=rng.randint(20, 40)), f"Synthetic demo: {status.label}.")
    return subject


def _demo_screening(study, site, numbers, answers, day: date, at: datetime):
    values = values_from_numbers(numbers, screening_date=day, at=at)
    return save_screening(study, site, screening_date=day, values=values, answers=answers, strata={}, by=None, at=at)


def _demo_screen_failure(study, site, numbers, answers, day: date, at: datetime, rng: random.Random) -> None:
    """A patient who fails one criterion: an investigator-judged inclusion answered no, or a value off its limit."""
    protocol = protocol_for(study.code)
    numeric = [r for c in protocol.eligibility.inclusion for r in c.rules if r.op in ("<=", ">=", "<", ">")]
    if numeric and rng.random() < 0.7:
        rule = rng.choice(numeric)
        assert rule.value is not None  # a comparison takes a value (the protocol's schema checks it)
        numbers = {**numbers, rule.field: rule.value + (-10 if rule.op in (">=", ">") else 10)}
    elif answers:
        answers = {**answers, rng.choice([code for code, met in answers.items() if met] or list(answers)): False}
    _demo_screening(study, site, numbers, answers, day, at)


def _demo_visit_date(start: date, end: date, today: date, rng: random.Random) -> date | None:
    """Most closed windows done in window, a few late, some overdue; open windows partly done."""
    if today < start:
        return None
    roll = rng.random()
    if today > end:
        if roll < 0.82:
            return start + timedelta(days=rng.randint(0, (end - start).days))
        if roll < 0.90:
            return min(end + timedelta(days=rng.randint(1, 10)), today)
        return None  # overdue
    if roll < 0.4:
        return start + timedelta(days=rng.randint(0, (today - start).days))
    return None
