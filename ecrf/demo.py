"""Synthetic demo data: sites in real time zones, one user per role, about 200 subjects with their forms.

Everything here is invented. Subjects have study subject IDs only; no names,
no birth dates. Running it again creates nothing new (sites, users and
memberships are looked up by their keys; each study-site is filled up to its
quota of subjects once, and a subject's forms are entered when it is created).

Every dated visit has each instrument the protocol gives it (for the subject's arm) entered with plausible
values (`ecrf.demo_values`), through the services the pages use, so the audit trail is the real one: recent
visits partly as drafts; older ones source-verified by the monitor and, at the demo investigator's sites
(`HOME`), signed and then locked by the data manager; a few queries (open, answered, closed); adverse events,
some serious with their report to the sponsor (now and then late, confirmed as such); visits outside their
window with the site's reason (protocol deviations); and the safety flags the entered values raise, some
confirmed by the investigator. At the other sites the forms are entered as by an import (no user).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ecrf.auth.models import Membership, Role, User
from ecrf.auth.services import PasswordCheck, confirm_identity
from ecrf.clock import now_utc, site_today
from ecrf.crfs.input import EntryInput
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import Instrument, instrument
from ecrf.crfs.services import entered_values, entry_data, lock_entries, mark_none_reported, save_entry, sign_entries, verify_entry
from ecrf.demo_values import Case, Generated, draw_profile, generate
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod
from ecrf.queries.services import answer_query, close_query, open_query_count, raise_query
from ecrf.randomization.models import RandomizationSlot
from ecrf.randomization.services import generate_list
from ecrf.safety.models import Flag, FlagStatus
from ecrf.safety.services import confirm_flag
from ecrf.screening.eligibility import eligible_example, values_from_numbers
from ecrf.screening.services import decline_consent, enrol_from_screening, save_screening
from ecrf.studies.models import Site, Study, StudySite
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.subjects.services import LEAVING, end_participation
from ecrf.visits.models import Visit
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


#: Why a visit took place outside its window (the deviation reason the site gives).
DEVIATION_REASONS = [
    "Synthetic demo: patient travelling",
    "Synthetic demo: patient in hospital for another condition at the time",
    "Synthetic demo: clinic closed on public holidays",
    "Synthetic demo: patient's transport not available",
]
#: Share of forms left as drafts at visits younger than RECENT_DAYS, and at older visits.
RECENT_DAYS = 30
DRAFT_SHARE_RECENT, DRAFT_SHARE_OLDER = 0.35, 0.03
#: Visits at least this old are source-verified (most forms) and, at HOME sites, signed; locked from LOCK_AFTER_DAYS.
VERIFY_AFTER_DAYS, LOCK_AFTER_DAYS = 45, 120
#: Share of complete forms at HOME sites the monitor queries; share of open safety flags the investigator confirms.
QUERY_SHARE, CONFIRM_SHARE = 0.04, 0.6


@dataclass
class DemoReport:
    sites: int = 0
    users: int = 0
    subjects: int = 0
    entries: int = 0
    queries: int = 0
    flags_confirmed: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what this run created."""
        return (
            f"Demo data: {self.sites} sites, {self.users} users and {self.subjects} subjects created; "
            f"{self.entries} forms entered, {self.queries} queries raised, {self.flags_confirmed} safety flags confirmed."
        )


@dataclass
class Actors:
    """The demo users who enter, check, sign and lock forms."""

    coordinator: User
    investigator: User
    assessor: User
    monitor: User
    data_manager: User
    #: The investigator's identity, confirmed once (with the demo password) for every signature of the run.
    identity: PasswordCheck | None = None

    def signer_identity(self) -> PasswordCheck:
        """The investigator's identity check for signing (`confirm_identity`), made once."""
        if self.identity is None:
            self.identity = confirm_identity(self.investigator, DEMO_PASSWORD, purpose="signature")
        return self.identity


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
    by_role: dict[Role, User] = {}
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
        by_role[role] = user
    for study in studies.values():
        if study.allocation == "randomized" and not db.session.scalar(select(RandomizationSlot.id).where(RandomizationSlot.study_id == study.id).limit(1)):
            generate_list(study, protocol_for(study.code), seed=seed, per_stratum=max(quota for (code, _), quota in QUOTAS.items() if code == study.code) + 40)
    actors = Actors(by_role[Role.COORDINATOR], by_role[Role.INVESTIGATOR], by_role[Role.BLINDED_ASSESSOR], by_role[Role.MONITOR], by_role[Role.DATA_MANAGER])
    for (study_code, site_code), quota in QUOTAS.items():
        study, site = studies[study_code], sites[site_code]
        existing = db.session.scalar(select(func.count(Subject.id)).where(Subject.study_id == study.id, Subject.site_id == site.id)) or 0
        for _ in range(quota - existing):
            _demo_subject(study, site, rng, seed, actors, report)
            report.subjects += 1
    return report


def _demo_subject(study: Study, site: Site, rng: random.Random, seed: int, actors: Actors, report: DemoReport) -> Subject:
    """One synthetic patient screened, enrolled (randomized from the study's list where the study is
    randomized) on a day in the past two years, with a plausible visit history and its forms; now and
    then a screen failure, a refusal or a subject who leaves the study goes with it."""
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
    # The subject's own stream: its forms are the same whatever other subjects a run creates.
    own = random.Random(f"{seed}:{subject.subject_code}")
    for visit in subject.visits[1:]:  # the day-0 visit is dated at enrolment
        visit_date = _demo_visit_date(visit.window_start, visit.window_end, today, rng)
        if visit_date is not None:
            record_visit_date(visit, visit_date, deviation_reason=own.choice(DEVIATION_REASONS))
    _demo_forms(subject, actors, own, report)
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


# -- forms ------------------------------------------------------------------------------------------


def _demo_forms(subject: Subject, actors: Actors, rng: random.Random, report: DemoReport) -> None:
    """Enter every instrument of each dated visit, let the investigator confirm some of the safety flags the
    values raise, then query, verify, sign and lock as a study's monitoring would have by now."""
    protocol = protocol_for(subject.study.code)
    home = (subject.study.code, subject.site.code) in HOME
    arm = subject.arm.code if subject.arm else None
    today, now = site_today(subject.site), now_utc()
    dated = [visit for visit in subject.visits if visit.visit_date is not None]
    profile = draw_profile(subject.study.code, [v.definition.target_day for v in subject.visits if v.definition.target_day > 0], rng)
    previous = subject.consent_date
    for visit in dated:
        assert visit.visit_date is not None
        definition = protocol.visit(visit.definition.code)
        case = Case(
            study=subject.study.code,
            arm=arm,
            visit_code=definition.code,
            target_day=definition.target_day,
            visit_date=visit.visit_date,
            in_window=visit.in_window(visit.visit_date),
            index_date=subject.index_date,
            index_at=subject.index_at,
            consent_date=subject.consent_date,
            timezone=subject.site.timezone,
            previous_date=previous,
            now=now,
            report_hours=protocol.safety.sae_report_hours,
            profile=profile,
        )
        draft_share = DRAFT_SHARE_RECENT if (today - visit.visit_date).days < RECENT_DAYS else DRAFT_SHARE_OLDER
        for code in definition.instruments_for(arm):
            item = instrument(code)
            by = (actors.assessor if code in definition.assessor_instruments else actors.coordinator) if home else None
            entered = generate(code, case, rng)
            if not entered:
                mark_none_reported(visit, item, by)
            for generated in entered:
                _enter(visit, item, generated, complete=rng.random() >= draft_share, by=by, rng=rng)
                report.entries += 1
        previous = visit.visit_date
    if home:
        for flag in db.session.scalars(
            select(Flag).where(Flag.subject_id == subject.id, Flag.safety.is_(True), Flag.status == FlagStatus.OPEN).order_by(Flag.id)
        ):
            if rng.random() < CONFIRM_SHARE:
                confirm_flag(flag, actors.investigator)  # opens a draft adverse event, prefilled from the flag
                report.flags_confirmed += 1
    for visit in dated:
        assert visit.visit_date is not None
        _monitor_visit(visit, (today - visit.visit_date).days, home, actors, rng, report)


def _enter(visit: Visit, item: Instrument, generated: Generated, *, complete: bool, by: User | None, rng: random.Random) -> CrfEntry:
    """Save one entry; a draft is a form left unfinished (its last few answers not yet given)."""
    values = dict(generated.values)
    if not complete:
        answered = [name for name in item.items.entered_names() if values.get(name) is not None]
        for name in answered[-rng.randint(1, 3) :]:
            values[name] = None
    missing = {name: code for name, code in generated.missing.items() if complete or name in values}
    entered = EntryInput(values=values, missing=missing, confirmed_warnings=generated.confirmed_warnings, complete=complete, by=by)
    return save_entry(visit, item, entered, entry=None)


def _monitor_visit(visit: Visit, age_days: int, home: bool, actors: Actors, rng: random.Random, report: DemoReport) -> None:
    """Queries on a few complete forms (at HOME sites), source verification of older visits, the investigator's
    signature and the data manager's lock (HOME sites: the demo investigator's)."""
    entries = db.session.scalars(
        select(CrfEntry).where(CrfEntry.visit_id == visit.id, CrfEntry.status == EntryStatus.COMPLETE, CrfEntry.none_reported.is_(False)).order_by(CrfEntry.id)
    ).all()
    if not entries:
        return
    if home:
        for entry in entries:
            if rng.random() < QUERY_SHARE:
                _demo_query(entry, actors, rng)
                report.queries += 1
    if age_days < VERIFY_AFTER_DAYS:
        return
    for entry in entries:
        if rng.random() < 0.85:
            verify_entry(entry, actors.monitor)
    if not home or rng.random() > 0.85:
        return
    sign_entries([(entry, instrument(entry.instrument)) for entry in entries], actors.investigator, actors.signer_identity())
    if age_days >= LOCK_AFTER_DAYS and rng.random() < 0.75:
        lockable = [entry for entry in entries if entry.verified_at and entry.valid_signatures and not open_query_count(entry)]
        if lockable:
            lock_entries(lockable, actors.data_manager)


def _demo_query(entry: CrfEntry, actors: Actors, rng: random.Random) -> None:
    """The monitor asks about one answered item; the site answers some queries and the monitor closes some of those."""
    item = instrument(entry.instrument)
    values = {name: value for name, value in entered_values(item, entry_data(item, entry)).items() if value is not None and not isinstance(value, bool)}
    if not values:
        return
    name = rng.choice(sorted(values))
    query = raise_query(entry, name, f"{item.items.label(name)}: please confirm {values[name]} against the source document.", actors.monitor)
    roll = rng.random()
    if roll < 0.35:
        return  # still open
    answer_query(query, "Checked against the source document: the value is as recorded.", actors.coordinator)
    if roll >= 0.65:
        close_query(query, "Answer accepted; closed.", actors.monitor)
