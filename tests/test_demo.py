"""`flask ecrf demo`: synthetic sites, users and subjects for all five studies, with their forms; idempotent.

The demo is loaded once for the module and committed (it takes seconds); each test then reads it in its own
transaction, rolled back at the end, and the module empties the tables when it is done.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Membership, Role, User
from ecrf.clock import now_utc, site_today
from ecrf.crfs.items import Kind
from ecrf.crfs.models import CrfEntry, EntryStatus, Signature
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import entered_values, entry_data, form_context, initial_values
from ecrf.demo_values import GENERATORS, Case, draw_profile, generate
from ecrf.deviations.models import ProtocolDeviation
from ecrf.extensions import db
from ecrf.instruments.adverse_events import AdverseEventData
from ecrf.protocols import protocol_for
from ecrf.protocols.instruments import INSTRUMENTS as CATALOGUE
from ecrf.queries.models import DataQuery, QueryStatus
from ecrf.safety.models import Flag, FlagStatus
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus
from forms.registry import form_for
from tests.conftest import _empty_tables, post_form


@pytest.fixture(scope="module")
def demo(app):
    """The output of the first `flask ecrf demo`, its data committed for the module's tests."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["ecrf", "demo"])
        db.session.remove()
    assert result.exit_code == 0, result.output
    yield result.output
    with app.app_context():
        _empty_tables()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _entries() -> list[CrfEntry]:
    return list(db.session.scalars(select(CrfEntry).where(CrfEntry.none_reported.is_(False)).order_by(CrfEntry.id)))


def test_demo_creates_about_200_subjects_in_all_five_studies(demo):
    assert "200 subjects created" in demo and "coordinator@example.org" in demo and "demo-password" in demo
    per_study = Counter(db.session.scalars(select(Study.code).join(Subject, Subject.study_id == Study.id)))
    assert set(per_study) == {"defier", "angel-icas", "leg-deb", "defiance", "precise-cal"}


def test_a_second_run_changes_nothing(demo, cli):
    tables = (Site, User, Membership, Subject, Visit, CrfEntry, Signature, DataQuery, Flag, ProtocolDeviation, AdverseEventData, AuditEvent)
    counts = [_count(model) for model in tables]
    states = sorted(db.session.execute(select(CrfEntry.id, CrfEntry.status, CrfEntry.version, CrfEntry.verified_at)).all())
    again = cli.invoke(args=["ecrf", "demo"])
    assert again.exit_code == 0 and "0 sites, 0 users and 0 subjects created; 0 forms entered" in again.output, again.output
    assert [_count(model) for model in tables] == counts
    assert sorted(db.session.execute(select(CrfEntry.id, CrfEntry.status, CrfEntry.version, CrfEntry.verified_at)).all()) == states


def test_demo_sites_have_real_time_zones_and_one_user_per_role(demo):
    zones = set(db.session.scalars(select(Site.timezone)))
    assert {"Asia/Shanghai", "America/New_York", "America/Phoenix", "America/Los_Angeles", "Europe/Berlin", "Europe/Rome"} <= zones
    assert all(ZoneInfo(zone) for zone in zones)
    roles = set(db.session.scalars(select(Membership.role)))
    assert roles == set(Role)


def test_demo_subjects_span_two_years_with_done_open_and_overdue_visits(demo):
    subjects = db.session.scalars(select(Subject)).all()
    ages = [(site_today(s.site) - s.index_date).days for s in subjects]
    assert min(ages) >= 0 and max(ages) <= 730 and max(ages) - min(ages) > 600
    statuses = Counter(visit.status(site_today(s.site)) for s in subjects for visit in s.visits)
    for status in (WindowStatus.COMPLETED_IN_WINDOW, WindowStatus.OPEN, WindowStatus.OVERDUE, WindowStatus.NOT_YET_OPEN):
        assert statuses[status] > 0, statuses
    assert all(s.arm is not None for s in subjects)


def test_demo_coordinator_sees_subjects_of_all_five_studies(demo, client):
    assert not any(db.session.scalars(select(User.must_change_password)))  # the printed password works as it is
    response = post_form(client, "/login", {"email": "coordinator@example.org", "password": "demo-password"})
    assert response.status_code == 302 and response.location == "/"
    studies = client.get("/studies/").get_data(as_text=True)
    for title in ("DEFIER", "ANGEL-ICAS", "LEG-DEB", "DEFIANCE", "PRECISE CAL"):
        assert title in studies
    assert client.get("/studies/defiance/sites/DE01").status_code == 200
    assert client.get("/studies/defiance/sites/US02").status_code == 404  # not one of her sites


def test_every_done_visit_has_every_instrument_of_its_protocol_and_arm_entered(demo):
    entered: dict[int, set[str]] = {}
    for visit_id, code in db.session.execute(select(CrfEntry.visit_id, CrfEntry.instrument)):
        entered.setdefault(visit_id, set()).add(code)
    done = 0
    for subject in db.session.scalars(select(Subject)):
        protocol = protocol_for(subject.study.code)
        for visit in subject.visits:
            if visit.visit_date is None:
                assert visit.id not in entered, f"{subject.subject_code} {visit.definition.code}: forms at a visit that did not take place"
                continue
            done += 1
            expected = set(protocol.visit(visit.definition.code).instruments_for(subject.arm.code if subject.arm else None))
            assert expected <= entered.get(visit.id, set()), f"{subject.subject_code} {visit.definition.code}: {expected - entered.get(visit.id, set())}"
    assert done > 500


def test_entries_are_drafts_complete_verified_signed_and_locked(demo):
    entries = _entries()
    states = Counter(entry.state for entry in entries)
    assert {"draft", "complete", "source-verified", "signed", "verified and signed", "locked"} <= set(states), states
    assert states["draft"] < states["locked"] + states["signed"] + states["verified"] + states["complete"]
    locked = [entry for entry in entries if entry.status is EntryStatus.LOCKED]
    assert all(entry.verified_at and entry.valid_signatures for entry in locked)
    investigator = db.session.scalar(select(User).where(User.email == "investigator@example.org"))
    assert {signature.user_id for entry in entries for signature in entry.signatures} == {investigator.id}
    assessor = db.session.scalar(select(User).where(User.email == "assessor@example.org"))
    assert {entry.instrument for entry in entries if entry.created_by_id == assessor.id} == {"mrs"}  # the blinded outcome


def test_there_are_open_answered_and_closed_queries_and_no_locked_form_has_an_open_one(demo):
    queries = db.session.scalars(select(DataQuery)).all()
    assert {query.status for query in queries} == {QueryStatus.OPEN, QueryStatus.ANSWERED, QueryStatus.CLOSED}
    assert all(query.entry.status is not EntryStatus.LOCKED for query in queries if query.status is not QueryStatus.CLOSED)
    assert all(query.field in instrument(query.entry.instrument).items for query in queries)


def test_adverse_events_some_serious_reported_one_late_and_confirmed(demo):
    events = db.session.scalars(select(AdverseEventData).join(CrfEntry).where(CrfEntry.status != EntryStatus.DRAFT)).all()
    serious = [event for event in events if event.serious]
    assert serious and len(serious) < len(events)
    assert all(event.reported_at is not None and event.sae_report_due_at is not None for event in serious)
    late = [event for event in serious if event.reported_late]
    assert 1 <= len(late) < len(serious) / 2
    assert all("sae_reported_late" in event.entry.confirmed_warnings for event in late)


def test_visits_outside_their_window_are_deviations_with_a_reason(demo):
    deviations = db.session.scalars(select(ProtocolDeviation).where(ProtocolDeviation.kind == "visit_out_of_window")).all()
    assert deviations and all(deviation.reason.startswith("Synthetic demo: ") for deviation in deviations)
    assert len({deviation.reason for deviation in deviations}) > 1
    assert all(deviation.visit.visit_date is not None and not deviation.visit.in_window(deviation.visit.visit_date) for deviation in deviations)


def test_some_safety_flags_are_confirmed_by_the_investigator_with_an_adverse_event_drafted(demo):
    investigator = db.session.scalar(select(User).where(User.email == "investigator@example.org"))
    confirmed = db.session.scalars(select(Flag).where(Flag.status == FlagStatus.CONFIRMED)).all()
    assert confirmed and all(flag.safety and flag.decided_by_id == investigator.id and flag.ae_entry_id for flag in confirmed)
    assert db.session.scalar(select(func.count(Flag.id)).where(Flag.safety.is_(True), Flag.status == FlagStatus.OPEN))  # some still await a decision
    assert len({flag.kind for flag in confirmed}) > 1


def _posted(entry: CrfEntry, context) -> MultiDict:
    """The entry's stored values as a browser would post them in its form."""
    item = instrument(entry.instrument)
    formdata = MultiDict()
    for name, value in initial_values(item, entry_data(item, entry), context).items():
        kind = item.items[name].kind
        if value is None or (kind is Kind.TICK and not value):
            continue
        if kind is Kind.TICK:
            formdata.add(name, "y")
        elif isinstance(value, datetime):
            formdata.add(name, value.strftime("%Y-%m-%dT%H:%M"))
        else:
            formdata.add(name, str(value))
    for name, code in entry.missing.items():
        formdata.add(f"{name}__missing", code["code"])
        formdata.add(f"{name}__reason", code["reason"])
    for code in entry.confirmed_warnings:
        formdata.add("confirm", code)
    return formdata


def test_every_entered_value_passes_its_forms_validation_and_reads_back_as_stored(demo, app):
    """save_entry trusts its caller's form: so each demo entry is put through its instrument's form again, as posted
    (complete ones as complete, with the warnings they confirmed; drafts as drafts)."""
    checked = Counter()
    for entry in _entries():
        item, visit = instrument(entry.instrument), entry.visit
        context = form_context(entry.subject, visit)
        formdata = _posted(entry, context)
        complete = entry.status is not EntryStatus.DRAFT
        with app.test_request_context(method="POST", data=formdata):
            form = form_for(entry.instrument)(formdata=formdata, context=context, meta={"csrf": False})
            assert form.validate_entry(complete), (entry.instrument, visit.definition.code, entry.status, form.errors, form.form_errors)
            read = form.entry_input(complete).values
        stored = entered_values(item, entry_data(item, entry))
        # An unticked box reads False; an entry opened from a safety flag (prefilled, never posted) stores None there.
        stored |= {name: bool(value) for name, value in stored.items() if item.items[name].kind is Kind.TICK}
        assert read == {name: stored[name] for name in read}, entry.instrument
        checked[entry.instrument] += 1
    assert set(checked) == set(CATALOGUE)


def test_the_generators_cover_every_instrument_and_repeat_with_the_same_seed(app):
    assert set(GENERATORS) == set(CATALOGUE)
    protocol = protocol_for("defier")
    visit = protocol.visit("m6")

    def draw(seed: int):
        rng = random.Random(seed)
        day = site_today(Site(timezone="Europe/Rome"))
        case = Case(
            study="defier",
            arm="des",
            visit_code=visit.code,
            target_day=visit.target_day,
            visit_date=day,
            in_window=True,
            index_date=day,
            index_at=None,
            consent_date=day,
            timezone="Europe/Rome",
            previous_date=day,
            now=now_utc(),
            report_hours=24,
            profile=draw_profile("defier", [30, 90, 180], rng),
        )
        return [generate(code, case, rng) for code in ("abi", "rutherford", "duplex", "stent_fracture")]

    assert draw(1) == draw(1) and draw(1) != draw(2)
