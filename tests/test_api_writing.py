"""How every API write meets a repeated Idempotency-Key: the route's access check comes first, so a user who lost
the right to a request does not get its stored answer again; stored answers are kept a day, then purged and the
key taken as new."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import delete, func, select, update

from ecrf.api.jobs import IDEMPOTENCY_RETENTION, purge_idempotent_answers
from ecrf.api.models import IdempotentRequest
from ecrf.api.spec import ApiError
from ecrf.api.writing import Answer, api_write
from ecrf.auth.models import Membership, Role
from ecrf.crfs.input import EntryInput
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import save_entry
from ecrf.extensions import db
from ecrf.queries.services import raise_query
from ecrf.scheduler import add_jobs
from ecrf.studies.models import Site
from ecrf.visits.services import record_visit_date
from tests.conftest import ApiClient, frozen_at

NOW = datetime(2027, 6, 1, 4)  # noon in Shanghai
ABI = {"target_limb": "left", "brachial_right": 140, "brachial_left": 130, "pt_right": 120, "dp_right": 110, "pt_left": 90, "dp_left": 84}
SUBJECT = "/api/v1/subjects/DEF-SH01-0001"
#: A write: (the client, the Idempotency-Key) -> its answer.
Write = Callable[[ApiClient, str], object]


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "angel-icas"])


@pytest.fixture
def coordinator(make_user, site):
    return make_user("c@example.org", [("defier", site, Role.COORDINATOR), ("angel-icas", site, Role.COORDINATOR)], name="Chen Coordinator")


@pytest.fixture
def writes(site, coordinator, make_user, make_subject, make_screening) -> dict[str, Write]:
    """Each write route of the API, ready to be sent by the coordinator with a key."""
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    abi = instrument("abi")
    values = {**ABI, "brachial_right_not_measurable": False, "brachial_left_not_measurable": False}
    values |= {f"{artery}_finding": None for artery in ("pt_right", "dp_right", "pt_left", "dp_left")}
    entry = save_entry(subject.visits[2], abi, EntryInput(values=values, complete=True, by=coordinator), entry=None)
    monitor = make_user("m@example.org", [("defier", site, Role.MONITOR)])
    query = raise_query(entry, "pt_right", "Source says 125?", monitor)
    db.session.commit()
    record = make_screening("defier", site)
    if_match = f'"entry-{entry.id}-v{entry.version}"'

    def post(url: str, body: dict) -> Write:
        return lambda client, key: client.post(url, json=body, headers={"Idempotency-Key": key})

    return {
        "enrol": post(f"/api/v1/screening/{record.screening_number}/enrol", {"consent_date": "2027-06-01", "index_date": "2027-06-01", "arm": "des"}),
        "visit date": post(f"{SUBJECT}/visits/m1/date", {"visit_date": "2027-02-01"}),
        "visit missed": post(f"{SUBJECT}/visits/m1/missed", {"reason": "the patient moved away"}),
        "new entry": post(f"{SUBJECT}/visits/m3/entries", {"instrument": "duplex", "values": {}}),
        "changed entry": lambda client, key: client.patch(
            f"/api/v1/entries/{entry.id}",
            json={"values": {"pt_left": 91}, "reason_for_change": "transcription error"},
            headers={"Idempotency-Key": key, "If-Match": if_match},
        ),
        "query answer": post(f"/api/v1/queries/{query.id}/answer", {"text": "Source checked: 120 is right."}),
    }


@pytest.mark.parametrize("route", ["enrol", "visit date", "visit missed", "new entry", "changed entry", "query answer"])
def test_a_repeated_key_is_not_answered_to_a_user_who_lost_their_membership(api, coordinator, writes, route):
    client = api(coordinator)
    first = writes[route](client, "k-1")
    assert first.status_code in (200, 201), first.json
    assert writes[route](client, "k-1").headers.get("Idempotent-Replayed") == "true"  # while still a member
    db.session.execute(delete(Membership).where(Membership.user_id == coordinator.id))
    db.session.commit()
    again = writes[route](client, "k-1")
    assert again.status_code == 404 and "Idempotent-Replayed" not in again.headers and set(again.json) == {"errors"}


@pytest.mark.parametrize("route", ["enrol", "visit date", "visit missed", "new entry", "changed entry", "query answer"])
def test_a_repeated_key_is_refused_403_to_a_user_whose_role_no_longer_allows_the_write(api, coordinator, writes, route):
    client = api(coordinator)
    assert writes[route](client, "k-1").status_code in (200, 201)
    db.session.execute(update(Membership).where(Membership.user_id == coordinator.id).values(role=Role.MONITOR))
    db.session.commit()
    again = writes[route](client, "k-1")
    assert again.status_code == 403 and "Idempotent-Replayed" not in again.headers


def test_a_repeated_key_does_not_show_a_newly_blinded_user_the_form_they_made_before(api, site, coordinator, make_subject):
    subject = make_subject("angel-icas", site, date(2027, 3, 1), arm="stent")
    record_visit_date(subject.visits[0], subject.visits[0].target_date)
    db.session.commit()
    client = api(coordinator)

    def procedure():
        body = {"instrument": "procedure_stroke", "values": {"rescue_treatment": "stent"}}
        return client.post(f"/api/v1/subjects/{subject.subject_code}/visits/baseline/entries", json=body, headers={"Idempotency-Key": "p-1"})

    assert procedure().status_code == 201
    db.session.execute(
        update(Membership).where(Membership.user_id == coordinator.id, Membership.study_id == subject.study_id).values(role=Role.BLINDED_ASSESSOR)
    )
    db.session.commit()
    again = procedure()
    assert again.status_code == 404 and "stent" not in again.get_data(as_text=True)


def test_a_repeated_key_does_not_show_a_newly_blinded_user_a_form_of_an_assessor_visit_they_may_no_longer_see(api, site, coordinator, make_subject):
    subject = make_subject("angel-icas", site, date(2027, 3, 1), arm="stent")
    for visit in subject.visits:
        record_visit_date(visit, visit.target_date)
    db.session.commit()
    client = api(coordinator)
    event = {"instrument": "adverse_events", "values": {"ae_term": "Groin haematoma", "onset_date": "2027-05"}}
    d90 = f"/api/v1/subjects/{subject.subject_code}/visits/d90/entries"
    first = client.post(d90, json=event, headers={"Idempotency-Key": "ae-1"})
    assert first.status_code == 201, first.json
    db.session.execute(
        update(Membership).where(Membership.user_id == coordinator.id, Membership.study_id == subject.study_id).values(role=Role.BLINDED_ASSESSOR)
    )
    db.session.commit()
    assert client.get(first.headers["Location"]).status_code == 404
    again = client.post(d90, json=event, headers={"Idempotency-Key": "ae-1"})
    assert again.status_code == 404 and "Idempotent-Replayed" not in again.headers and "haematoma" not in again.get_data(as_text=True)


def _answers() -> int:
    return db.session.scalar(select(func.count(IdempotentRequest.id))) or 0


def test_a_key_sent_again_after_the_retention_is_a_new_request(api, coordinator, writes):
    client = api(coordinator)
    date_of_m1 = f"{SUBJECT}/visits/m1/date"
    with frozen_at(NOW):
        assert client.post(date_of_m1, json={"visit_date": "2027-02-01"}, headers={"Idempotency-Key": "k-1"}).status_code == 200
    with frozen_at(NOW + IDEMPOTENCY_RETENTION - timedelta(minutes=1)):
        reused = client.post(date_of_m1, json={"visit_date": "2027-02-02"}, headers={"Idempotency-Key": "k-1"})
        assert reused.status_code == 422 and reused.json["errors"][0]["field"] == "Idempotency-Key"
    with frozen_at(NOW + IDEMPOTENCY_RETENTION + timedelta(minutes=1)):
        renewed = client.post(date_of_m1, json={"visit_date": "2027-02-02"}, headers={"Idempotency-Key": "k-1"})
        assert renewed.status_code == 200 and renewed.json["visit_date"] == "2027-02-02" and "Idempotent-Replayed" not in renewed.headers
        assert client.post(date_of_m1, json={"visit_date": "2027-02-02"}, headers={"Idempotency-Key": "k-1"}).headers["Idempotent-Replayed"] == "true"
    assert _answers() == 1


def test_the_purge_deletes_the_answers_older_than_the_retention_and_keeps_the_others(api, coordinator, writes):
    client = api(coordinator)
    with frozen_at(NOW):
        writes["visit date"](client, "old")
    with frozen_at(NOW + timedelta(hours=20)):
        writes["query answer"](client, "recent")
    assert _answers() == 2
    with frozen_at(NOW + IDEMPOTENCY_RETENTION - timedelta(minutes=1)):
        assert purge_idempotent_answers() == 0
    with frozen_at(NOW + IDEMPOTENCY_RETENTION + timedelta(minutes=1)):
        assert purge_idempotent_answers() == 1
    assert list(db.session.scalars(select(IdempotentRequest.key))) == ["recent"]


def test_the_scheduler_purges_the_stored_answers_every_hour():
    scheduler = BackgroundScheduler()
    add_jobs(scheduler)
    jobs = {job.func_ref: job.trigger.interval for job in scheduler.get_jobs()}
    assert jobs["ecrf.scheduler:idempotency_job"] == timedelta(hours=1)


@pytest.mark.parametrize("key", ["a\x00b", "k\x1b1"])
def test_a_control_character_in_the_idempotency_key_is_refused_naming_the_header(api, coordinator, writes, key):
    answer = writes["visit date"](api(coordinator), key)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "Idempotency-Key"
    assert "control character" in answer.json["errors"][0]["message"]
    assert _answers() == 0


def test_a_lost_race_is_logged_by_its_kind_never_with_the_values_of_the_statement(app, make_site, caplog):
    make_site("SH01", ["defier"])
    db.session.commit()

    def duplicate_site() -> Answer:
        db.session.add(Site(code="SH01", name="Secret Hospital of Patient Wang", timezone="Asia/Shanghai", country="CN"))
        db.session.flush()
        raise AssertionError("the site code is unique")

    route = api_write(check=lambda: None)(duplicate_site)
    with caplog.at_level(logging.INFO), app.test_request_context("/api/v1/sites", method="POST"), pytest.raises(ApiError) as refused:
        route()
    assert refused.value.status == 409
    assert "lost a race" in caplog.text and "IntegrityError" in caplog.text and "Patient Wang" not in caplog.text
