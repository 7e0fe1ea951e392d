"""The API's subjects, visits, flags, queries and screening log, and its writes: enrolment, a visit's date, a missed
visit; through the same access rules and services as the pages."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from ecrf.alerts.models import Alert
from ecrf.api.tokens import create_token
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role
from ecrf.clock import site_today
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.extensions import db
from ecrf.queries.services import raise_query
from ecrf.randomization.models import RandomizationSlot
from ecrf.safety.services import refresh_flags
from ecrf.screening.models import ScreeningOutcome, ScreeningRecord
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.subjects.services import end_participation
from ecrf.visits.services import record_visit_date
from tests.races import at_once

NOW = datetime(2027, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
TODAY = date(2027, 3, 10)
#: Far after NOW: audit rows of other tests never fall after it (SQLite may give an emptied table's ids again).
LATER = datetime(2031, 1, 6, 4, 0, tzinfo=UTC)


@pytest.fixture
def sh01(make_site):
    return make_site("SH01", ["defier", "angel-icas", "defiance"])


@pytest.fixture
def hz01(make_site):
    return make_site("HZ01", ["defier"])


@pytest.fixture
def coordinator(make_user, sh01):
    return make_user("coordinator@example.org", [(study, sh01, Role.COORDINATOR) for study in ("defier", "angel-icas", "defiance")], name="Cora Coordinator")


@pytest.fixture
def monitor(make_user, sh01):
    return make_user("monitor@example.org", [("defier", sh01, Role.MONITOR)], name="Mo Monitor")


@pytest.fixture
def assessor(make_user, sh01):
    return make_user("assessor@example.org", [("angel-icas", sh01, Role.BLINDED_ASSESSOR)], name="Bea Blinded")


def subject_count() -> int:
    return db.session.scalar(select(func.count(Subject.id))) or 0


# -- reading subjects --------------------------------------------------------------------------------------------


def test_the_subject_list_gives_each_subject_with_its_visits_windows_and_window_statuses(api, coordinator, sh01, make_subject):
    subject = make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    response = api(coordinator).get("/api/v1/studies/defier/subjects")
    assert response.status_code == 200
    [item] = response.json["items"]
    assert response.json["next_cursor"] is None
    assert (item["subject_code"], item["study"], item["site"], item["status"], item["index_date"]) == (
        "DEF-SH01-0001",
        "defier",
        "SH01",
        "active",
        "2026-12-01",
    )
    assert (item["arm_shown"], item["arm"]) == (True, {"code": "des", "label": "DES"})
    today = site_today(sh01)
    assert [(v["code"], v["window_start"], v["window_end"], v["visit_date"], v["missed"], v["status"]) for v in item["visits"]] == [
        (v.definition.code, v.window_start.isoformat(), v.window_end.isoformat(), v.visit_date and v.visit_date.isoformat(), False, v.status(today).value)
        for v in subject.visits
    ]
    statuses = {v["code"]: v["status"] for v in item["visits"]}
    assert statuses["baseline"] == "completed in window" and statuses["m1"] == "overdue" and statuses["m24"] == "not yet open"


def test_a_subject_is_read_by_its_study_subject_id_with_its_visits(api, coordinator, sh01, make_subject):
    make_subject("defier", sh01, date(2027, 3, 1), arm="dcb")
    response = api(coordinator).get("/api/v1/subjects/DEF-SH01-0001")
    assert response.status_code == 200
    assert response.json["subject_code"] == "DEF-SH01-0001" and response.json["arm"]["code"] == "dcb"
    m1 = next(v for v in response.json["visits"] if v["code"] == "m1")
    assert (m1["label"], m1["target_date"], m1["window_start"], m1["window_end"], m1["status"]) == (
        "1 month",
        "2027-03-31",
        "2027-03-24",
        "2027-04-07",
        "not yet open",
    )


def test_the_subject_list_pages_with_a_cursor(api, coordinator, sh01, make_subject):
    for day in (1, 2, 3):
        make_subject("defier", sh01, date(2027, 1, day), arm="des")
    client = api(coordinator)
    first = client.get("/api/v1/studies/defier/subjects?limit=2").json
    assert [s["subject_code"] for s in first["items"]] == ["DEF-SH01-0001", "DEF-SH01-0002"] and first["next_cursor"]
    second = client.get(f"/api/v1/studies/defier/subjects?limit=2&cursor={first['next_cursor']}").json
    assert [s["subject_code"] for s in second["items"]] == ["DEF-SH01-0003"] and second["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["nonsense", "aWQ6eA", "aWQ6LTE"])
def test_a_cursor_the_api_did_not_give_is_refused_naming_the_field(api, coordinator, sh01, cursor):
    response = api(coordinator).get(f"/api/v1/studies/defier/subjects?cursor={cursor}")
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "cursor"


def test_the_subject_list_filters_by_site_and_refuses_a_site_not_the_users(api, make_site, make_user, make_subject, hz01):
    sh01, sh02 = make_site("SH01", ["defier"]), make_site("SH02", ["defier"])
    user = make_user("two@example.org", [("defier", sh01, Role.COORDINATOR), ("defier", sh02, Role.COORDINATOR)])
    make_subject("defier", sh01, date(2027, 1, 1), arm="des")
    make_subject("defier", sh02, date(2027, 1, 1), arm="des")
    make_subject("defier", hz01, date(2027, 1, 1), arm="des")
    client = api(user)
    assert [s["subject_code"] for s in client.get("/api/v1/studies/defier/subjects").json["items"]] == ["DEF-SH01-0001", "DEF-SH02-0001"]
    assert [s["subject_code"] for s in client.get("/api/v1/studies/defier/subjects?site=SH02").json["items"]] == ["DEF-SH02-0001"]
    refused = client.get("/api/v1/studies/defier/subjects?site=HZ01")
    assert refused.status_code == 422
    assert refused.json["errors"] == [{"field": "site", "message": "site: 'HZ01' is not one of your sites in DEFIER; yours: SH01, SH02."}]


def test_the_subject_list_filters_by_status(api, coordinator, sh01, make_subject):
    make_subject("defier", sh01, date(2027, 1, 1), arm="des")
    leaving = make_subject("defier", sh01, date(2027, 1, 2), arm="des")
    end_participation(leaving, SubjectStatus.WITHDRAWN, date(2027, 2, 1), "consent withdrawn")
    db.session.commit()
    client = api(coordinator)
    assert [s["subject_code"] for s in client.get("/api/v1/studies/defier/subjects?status=withdrawn").json["items"]] == ["DEF-SH01-0002"]
    assert [s["subject_code"] for s in client.get("/api/v1/studies/defier/subjects?status=active").json["items"]] == ["DEF-SH01-0001"]
    bad = client.get("/api/v1/studies/defier/subjects?status=gone")
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "status"


def test_the_subject_list_filters_by_changes_since_an_instant_from_the_audit_trail(api, coordinator, sh01, make_subject, clock):
    make_subject("defier", sh01, date(2027, 1, 1), arm="des")
    changed = make_subject("defier", sh01, date(2027, 1, 2), arm="des")
    with clock(LATER):
        client = api(coordinator)  # (a token made now would have expired by then)
        response = client.post("/api/v1/subjects/DEF-SH01-0002/visits/m1/missed", json={"reason": "the patient moved away"})
        assert response.status_code == 200
    since = (LATER - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    assert [s["subject_code"] for s in client.get(f"/api/v1/studies/defier/subjects?changed_since={since}").json["items"]] == [changed.subject_code]
    after = (LATER + timedelta(seconds=1)).isoformat()
    assert client.get("/api/v1/studies/defier/subjects", query_string={"changed_since": after}).json["items"] == []
    for bad in ("2027-03-01T00:00:00", "0001-01-01T00:00:00+01:00", "yesterday"):  # no offset; out of range; not an instant
        refused = client.get("/api/v1/studies/defier/subjects", query_string={"changed_since": bad})
        assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "changed_since"


def test_a_blinded_assessor_never_gets_the_arm(api, assessor, coordinator, sh01, make_subject):
    make_subject("angel-icas", sh01, date(2027, 3, 1), arm="stent")
    make_subject("angel-icas", sh01, date(2027, 3, 2), arm="balloon")
    client = api(assessor)
    listed = client.get("/api/v1/studies/angel-icas/subjects")
    one = client.get("/api/v1/subjects/AIC-SH01-0001")
    assert listed.status_code == one.status_code == 200
    for response in (listed, one):
        text = response.get_data(as_text=True).lower()
        assert "stent" not in text and "balloon" not in text
    assert [(s["arm_shown"], s["arm"]) for s in listed.json["items"]] == [(False, None), (False, None)]
    assert (one.json["arm_shown"], one.json["arm"]) == (False, None)
    assert api(coordinator).get("/api/v1/subjects/AIC-SH01-0001").json["arm"] == {"code": "stent", "label": "Stent"}


def test_a_subject_not_yet_randomized_shows_no_arm_but_says_it_would(api, coordinator, sh01, make_subject):
    make_subject("defiance", sh01, date(2027, 3, 1))
    response = api(coordinator).get("/api/v1/subjects/DFN-SH01-0001")
    assert (response.json["arm_shown"], response.json["arm"]) == (True, None)


def test_another_sites_subject_visit_and_screening_record_are_not_found(api, coordinator, hz01, make_subject, make_screening):
    make_subject("defier", hz01, date(2027, 1, 1), arm="des")
    record = make_screening("defier", hz01)
    client = api(coordinator)
    assert client.get("/api/v1/subjects/DEF-HZ01-0001").status_code == 404
    assert client.post("/api/v1/subjects/DEF-HZ01-0001/visits/m1/date", json={"visit_date": "2027-02-01"}).status_code == 404
    assert client.post("/api/v1/subjects/DEF-HZ01-0001/visits/m1/missed", json={"reason": "x"}).status_code == 404
    enrol = client.post(f"/api/v1/screening/{record.screening_number}/enrol", json={"consent_date": "2027-03-01", "index_date": "2027-03-01", "arm": "des"})
    assert enrol.status_code == 404 and "DEF-HZ01" not in enrol.get_data(as_text=True)
    assert client.get("/api/v1/studies/precise-cal/subjects").status_code == 404
    assert record.outcome is ScreeningOutcome.ELIGIBLE and subject_count() == 1


def test_a_study_the_user_is_not_in_is_not_found_whatever_the_filters(api, coordinator):
    assert api(coordinator).get("/api/v1/studies/precise-cal/subjects?limit=0&status=gone").status_code == 404


def test_an_unknown_visit_of_a_visible_subject_is_not_found(api, coordinator, sh01, make_subject):
    make_subject("defier", sh01, date(2027, 1, 1), arm="des")
    assert api(coordinator).post("/api/v1/subjects/DEF-SH01-0001/visits/m99/date", json={"visit_date": "2027-02-01"}).status_code == 404


def test_the_subject_list_takes_the_same_number_of_queries_whatever_the_number_of_subjects(api, coordinator, sh01, make_subject, count_queries):
    client = api(coordinator)

    def statements() -> int:
        db.session.expire_all()
        with count_queries() as seen:
            assert client.get("/api/v1/studies/defier/subjects").status_code == 200
        return len(seen)

    make_subject("defier", sh01, date(2027, 1, 1), arm="des")
    statements()  # (the token's first use is noted: one more statement, once)
    make_subject("defier", sh01, date(2027, 1, 2), arm="dcb")
    with_2 = statements()
    for day in range(3, 13):
        make_subject("defier", sh01, date(2027, 1, day), arm="dcb")
    assert statements() == with_2


# -- flags, queries, screening -----------------------------------------------------------------------------------


def test_flags_name_their_subject_and_filter_by_status_site_and_changes(api, coordinator, sh01, make_subject, clock):
    first = make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    second = make_subject("defier", sh01, date(2026, 12, 2), arm="des")
    raised = refresh_flags([first, second])
    db.session.commit()
    client = api(coordinator)
    listed = client.get("/api/v1/studies/defier/flags").json
    assert {(f["subject_code"], f["kind"], f["visit_code"], f["status"]) for f in listed["items"]} == {
        (flag.subject.subject_code, flag.kind, "m1", "open") for flag in raised
    }
    with clock(LATER):
        m1 = next(v for v in second.visits if v.definition.code == "m1")
        record_visit_date(m1, date(2027, 1, 3))
        refresh_flags([second])
        db.session.commit()
    since = LATER.isoformat()
    changed = client.get("/api/v1/studies/defier/flags", query_string={"changed_since": since}).json["items"]
    assert {f["subject_code"] for f in changed} == {second.subject_code}
    assert ("m1", "resolved") in {(f["visit_code"], f["status"]) for f in changed}
    assert {f["subject_code"] for f in client.get("/api/v1/studies/defier/flags?status=resolved").json["items"]} == {second.subject_code}
    assert client.get("/api/v1/studies/defier/flags?site=SH01").json["items"] != []


def test_a_blinded_assessor_sees_neither_flags_nor_queries(api, assessor):
    client = api(assessor)
    assert client.get("/api/v1/studies/angel-icas/flags").status_code == 403
    assert client.get("/api/v1/studies/angel-icas/queries").status_code == 403


def test_queries_come_with_their_thread_and_filter_by_status(api, coordinator, monitor, sh01, make_subject):
    subject = make_subject("defier", sh01, date(2027, 1, 1), arm="des")
    entry = CrfEntry(subject_id=subject.id, visit_id=subject.visits[1].id, instrument="abi", status=EntryStatus.COMPLETE)
    db.session.add(entry)
    db.session.flush()
    raise_query(entry, "pt_right", "Source says 120?", monitor)
    db.session.commit()
    for user in (coordinator, monitor):
        [query] = api(user).get("/api/v1/studies/defier/queries").json["items"]
        assert (query["subject_code"], query["visit_code"], query["instrument"], query["field"], query["status"], query["raised_by"]) == (
            "DEF-SH01-0001",
            "m1",
            "abi",
            "pt_right",
            "open",
            "Mo Monitor",
        )
        assert [(m["kind"], m["text"], m["author"]) for m in query["messages"]] == [("raise", "Source says 120?", "Mo Monitor")]
    assert api(coordinator).get("/api/v1/studies/defier/queries?status=closed").json["items"] == []


def test_the_screening_log_lists_records_to_enrol_from_filtered_by_outcome(api, coordinator, monitor, sh01, make_screening):
    eligible = make_screening("defier", sh01)
    failed = make_screening("defier", sh01, numbers={"age_years": 17})
    client = api(coordinator)
    items = client.get("/api/v1/studies/defier/screening").json["items"]
    assert [(r["screening_number"], r["outcome"], r["may_enrol"]) for r in items] == [
        (eligible.screening_number, "eligible", True),
        (failed.screening_number, "screen_failure", False),
    ]
    assert items[1]["failed_criteria"] == failed.failed_criteria != []
    only = client.get("/api/v1/studies/defier/screening?outcome=eligible").json["items"]
    assert [r["screening_number"] for r in only] == [eligible.screening_number]
    assert [r["may_enrol"] for r in api(monitor).get("/api/v1/studies/defier/screening").json["items"]] == [False, False]


@pytest.fixture
def two_sites(make_site, make_user, make_subject, make_screening):
    """A coordinator of SH01 and SH02 in DEFIER; at each site a subject with flags and a query, and a screening."""
    sites = [make_site("SH01", ["defier"]), make_site("SH02", ["defier"])]
    coordinator = make_user("two@example.org", [("defier", site, Role.COORDINATOR) for site in sites])
    monitor = make_user("mon@example.org", [("defier", site, Role.MONITOR) for site in sites])
    subjects = [make_subject("defier", site, date(2026, 12, 1), arm="des") for site in sites]
    for subject in subjects:
        make_screening("defier", subject.site)
        entry = CrfEntry(subject_id=subject.id, visit_id=subject.visits[1].id, instrument="abi", status=EntryStatus.COMPLETE)
        db.session.add(entry)
        db.session.flush()
        raise_query(entry, "pt_right", "Source says 120?", monitor)
    refresh_flags(subjects)
    db.session.commit()
    return coordinator


@pytest.mark.parametrize("resource", ["subjects", "flags", "queries", "screening"])
def test_every_list_pages_with_a_cursor_and_filters_by_site(api, two_sites, resource):
    client = api(two_sites)
    url = f"/api/v1/studies/defier/{resource}"
    whole = client.get(url).json["items"]
    pages, cursor = [], None
    while True:
        answer = client.get(url, query_string={"limit": 1, **({"cursor": cursor} if cursor else {})}).json
        pages.append(answer["items"])
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert len(pages) == len(whole) >= 2 and [item for items in pages for item in items] == whole
    assert client.get(url, query_string={"cursor": "bm90LWEtY3Vyc29y"}).status_code == 422
    only = client.get(url, query_string={"site": "SH02"}).json["items"]
    assert only and {item["site"] for item in only} == {"SH02"} and len(only) < len(whole)


# -- enrolment ---------------------------------------------------------------------------------------------------


def _enrol(client, record, body: dict | None = None, **headers):
    body = body if body is not None else {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"}
    return client.post(f"/api/v1/screening/{record.screening_number}/enrol", json=body, headers=headers)


def test_enrolling_from_an_eligible_record_answers_201_with_the_subject_and_where_it_is(api, coordinator, sh01, make_screening):
    record = make_screening("defier", sh01)
    response = _enrol(api(coordinator), record)
    assert response.status_code == 201, response.json
    assert response.headers["Location"] == "/api/v1/subjects/DEF-SH01-0001"
    assert (response.json["subject_code"], response.json["arm"]["code"], response.json["index_date"], response.json["consent_date"]) == (
        "DEF-SH01-0001",
        "des",
        "2027-03-02",
        "2027-03-01",
    )
    assert [v["code"] for v in response.json["visits"]][:2] == ["baseline", "m1"]
    db.session.refresh(record)
    assert record.outcome is ScreeningOutcome.ENROLLED and record.subject.subject_code == "DEF-SH01-0001"


def test_enrolling_in_a_randomized_study_allocates_at_once_and_day_0_is_now(api, coordinator, sh01, make_screening, cli):
    cli.invoke(args=["ecrf", "randomization", "generate", "angel-icas", "--seed", "7", "--per-stratum", "10"])
    record = make_screening("angel-icas", sh01)
    response = _enrol(api(coordinator), record, {"consent_date": "2027-03-10"})
    assert response.status_code == 201, response.json
    assert response.json["arm"]["code"] in {"balloon", "stent"}
    assert (response.json["index_date"], response.json["randomized_at"]) == ("2027-03-10", "2027-03-10T04:00:00Z")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (
            {"consent_date": "2027-03-11", "index_date": "2027-03-02", "arm": "dcb"},
            "consent_date",
            "Informed consent date: must not be after the enrolment date",
        ),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-11", "arm": "dcb"}, "index_date", "Procedure date: must not be after today at the site"),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02"}, "arm", "Cohort: required; choose one of DCB, DES."),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "bms"}, "arm", "Cohort: required; choose one of DCB, DES."),
        ({"consent_date": "2027-03-01", "arm": "dcb"}, "index_date", "Procedure date: required"),
        ({"consent_date": "03/01/2027", "index_date": "2027-03-02", "arm": "dcb"}, "consent_date", "enter the date as YYYY-MM-DD"),
        ({"consent_date": 1_800_000_000, "index_date": "2027-03-02", "arm": "dcb"}, "consent_date", "enter the date as YYYY-MM-DD"),
        ({"index_date": "2027-03-02", "arm": "dcb"}, "consent_date", "consent_date: Field required"),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "dcb", "name": "x"}, "name", "Extra inputs are not permitted"),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02", "index_time": "09:00", "arm": "dcb"}, "index_time", "not asked in DEFIER"),
        ({"consent_date": "0001-01-01", "index_date": "0001-01-01", "arm": "dcb"}, "index_date", "the year must be between 1900 and 2100"),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "dcb\x00"}, "arm", "contains a control character (NUL)"),
    ],
)
def test_bad_enrolment_input_is_refused_422_naming_the_body_field(api, coordinator, sh01, make_screening, body, field, message):
    record = make_screening("defier", sh01)
    response = _enrol(api(coordinator), record, body)
    assert response.status_code == 422
    assert any(problem["field"] == field and message in problem["message"] for problem in response.json["errors"]), response.json
    assert subject_count() == 0


def test_a_body_that_is_not_json_is_refused_422(api, coordinator, sh01, make_screening):
    record = make_screening("defier", sh01)
    response = api(coordinator).post(
        f"/api/v1/screening/{record.screening_number}/enrol", data={"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"}
    )
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": None, "message": "body: send a JSON object, with Content-Type: application/json."}]
    assert subject_count() == 0


def test_day_0_is_not_asked_where_it_is_the_randomization(api, coordinator, sh01, make_screening):
    record = make_screening("angel-icas", sh01)
    response = _enrol(api(coordinator), record, {"consent_date": "2027-03-10", "index_date": "2027-03-10"})
    assert response.status_code == 422
    assert response.json["errors"] == [
        {"field": "index_date", "message": "index_date: not asked in ANGEL-ICAS: day 0 is the randomization, taken now."},
    ]


def test_an_ineligible_patient_is_refused_with_the_criteria_not_met(api, coordinator, sh01, make_screening):
    record = make_screening("defier", sh01, numbers={"age_years": 17})
    response = _enrol(api(coordinator), record)
    assert response.status_code == 422
    messages = [problem["message"] for problem in response.json["errors"]]
    assert messages[0] == "Not eligible; these criteria are not met:" and any("Age" in message for message in messages[1:])


def test_enrolling_a_record_already_enrolled_is_a_conflict_naming_the_subject(api, coordinator, sh01, make_screening):
    record = make_screening("defier", sh01)
    client = api(coordinator)
    assert _enrol(client, record).status_code == 201
    again = _enrol(client, record)
    assert again.status_code == 409
    assert "already enrolled as DEF-SH01-0001" in again.json["errors"][0]["message"]
    assert subject_count() == 1


def test_an_idempotency_key_replays_the_enrolment_and_enrols_once(api, coordinator, sh01, make_screening):
    record = make_screening("defier", sh01)
    client = api(coordinator)
    first = _enrol(client, record, **{"Idempotency-Key": "enrol-1"})
    again = _enrol(client, record, **{"Idempotency-Key": "enrol-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert subject_count() == 1
    other = _enrol(client, record, {"consent_date": "2027-03-02", "index_date": "2027-03-02", "arm": "dcb"}, **{"Idempotency-Key": "enrol-1"})
    assert other.status_code == 422 and other.json["errors"][0]["field"] == "Idempotency-Key"
    assert subject_count() == 1


def test_an_exhausted_randomization_list_refuses_409_and_alerts_the_data_manager(api, coordinator, sh01, make_screening, cli):
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "3", "--per-stratum", "2"])
    slots = db.session.scalar(select(func.count(RandomizationSlot.id)).where(RandomizationSlot.stratum == "SH01"))
    client = api(coordinator)
    for _ in range(slots):
        assert _enrol(client, make_screening("defiance", sh01), {"consent_date": "2027-03-10"}).status_code == 201
    response = _enrol(client, make_screening("defiance", sh01), {"consent_date": "2027-03-10"})
    assert response.status_code == 409
    assert "no free slot left in stratum SH01" in response.json["errors"][0]["message"]
    assert "The data manager has been alerted" in response.json["errors"][0]["message"]
    assert subject_count() == slots
    assert db.session.scalar(select(Alert.kind)) == "randomization_list_exhausted"


def test_a_monitor_reads_but_may_neither_enrol_nor_record_visits(api, monitor, sh01, make_subject, make_screening):
    make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    record = make_screening("defier", sh01)
    client = api(monitor)
    assert client.get("/api/v1/subjects/DEF-SH01-0001").status_code == 200
    assert _enrol(client, record).status_code == 403
    assert _enrol(client, record, {}).status_code == 403  # the right is checked before the body
    assert client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json={"visit_date": "2027-01-01"}).status_code == 403
    assert client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/missed", json={"reason": "moved"}).status_code == 403
    assert subject_count() == 1


def test_a_read_only_token_may_not_write(api, coordinator, sh01, make_subject, make_screening):
    make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    record = make_screening("defier", sh01)
    client = api(coordinator, read_only=True)
    assert client.get("/api/v1/subjects/DEF-SH01-0001").status_code == 200
    assert _enrol(client, record).status_code == 403
    assert client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json={"visit_date": "2027-01-01"}).status_code == 403
    assert client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/missed", json={"reason": "moved"}).status_code == 403
    assert subject_count() == 1


# -- recording visits --------------------------------------------------------------------------------------------


def test_recording_a_visit_date_answers_the_visit_with_its_window_status(api, coordinator, sh01, make_subject):
    make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    response = api(coordinator).post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json={"visit_date": "2026-12-31"})
    assert response.status_code == 200, response.json
    assert (response.json["code"], response.json["visit_date"], response.json["status"]) == ("m1", "2026-12-31", "completed in window")


def test_a_visit_date_outside_the_window_needs_a_deviation_reason(api, coordinator, sh01, make_subject):
    make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    client = api(coordinator)
    refused = client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json={"visit_date": "2027-02-20"})
    assert refused.status_code == 422
    assert [problem["field"] for problem in refused.json["errors"]] == ["deviation_reason"]
    assert "outside the window" in refused.json["errors"][0]["message"]
    taken = client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json={"visit_date": "2027-02-20", "deviation_reason": "patient was abroad"})
    assert taken.status_code == 200 and taken.json["status"] == "completed out of window"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"visit_date": "2027-03-11"}, "visit_date", "Visit date: must not be after today at the site (2027-03-10)."),
        ({"visit_date": "2026-11-30"}, "visit_date", "Visit date: must not be before the procedure date (2026-12-01)."),
        ({"visit_date": "31.12.2026"}, "visit_date", "enter the date as YYYY-MM-DD"),
        ({}, "visit_date", "visit_date: Field required"),
        ({"visit_date": "2026-12-31", "deviation_reason": "x" * 501}, "deviation_reason", "at most 500 characters"),
        ({"visit_date": "0001-01-01"}, "visit_date", "the year must be between 1900 and 2100"),
        ({"visit_date": "2027-02-20", "deviation_reason": "away\x00"}, "deviation_reason", "contains a control character (NUL), which is not allowed"),
    ],
)
def test_a_bad_visit_date_is_refused_naming_the_field(api, coordinator, sh01, make_subject, body, field, message):
    make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    response = api(coordinator).post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json=body)
    assert response.status_code == 422
    assert any(problem["field"] == field and message in problem["message"] for problem in response.json["errors"]), response.json


def test_marking_a_visit_missed_answers_the_visit_and_names_the_reason_field_as_sent(api, coordinator, sh01, make_subject):
    make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    client = api(coordinator)
    blank = client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/missed", json={"reason": "  "})
    assert blank.status_code == 422 and blank.json["errors"] == [{"field": "reason", "message": "Reason missed: required; say why (no names)."}]
    early = client.post("/api/v1/subjects/DEF-SH01-0001/visits/m24/missed", json={"reason": "moved away"})
    assert early.status_code == 422 and early.json["errors"][0]["field"] is None and "the window opens on" in early.json["errors"][0]["message"]
    missed = client.post("/api/v1/subjects/DEF-SH01-0001/visits/m1/missed", json={"reason": "moved away"})
    assert missed.status_code == 200
    assert (missed.json["missed"], missed.json["missed_reason"], missed.json["status"]) == (True, "moved away", "missed")


def test_a_blinded_assessor_records_only_visits_with_assessor_forms(api, assessor, sh01, make_subject):
    make_subject("angel-icas", sh01, date(2026, 12, 1), arm="stent")
    client = api(assessor)
    assert client.post("/api/v1/subjects/AIC-SH01-0001/visits/d7/date", json={"visit_date": "2026-12-08"}).status_code == 403
    response = client.post("/api/v1/subjects/AIC-SH01-0001/visits/d90/date", json={"visit_date": "2027-03-01"})
    assert response.status_code == 200 and response.json["status"] == "completed in window"
    assert "stent" not in response.get_data(as_text=True).lower()


def test_an_api_write_is_audited_under_the_tokens_name(api, coordinator, sh01, make_subject):
    subject = make_subject("defier", sh01, date(2026, 12, 1), arm="des")
    last = db.session.scalar(select(func.max(AuditEvent.id)))  # (the trail outlives emptied tables, whose ids may come again)
    api(coordinator, name="site upload").post("/api/v1/subjects/DEF-SH01-0001/visits/m1/date", json={"visit_date": "2026-12-31"})
    rows = db.session.execute(
        select(AuditEvent.user_email, AuditEvent.via, AuditEvent.new_value).where(
            AuditEvent.id > last,
            AuditEvent.subject_id == subject.id,
            AuditEvent.object_type == "visits",
            AuditEvent.action == "update",
            AuditEvent.field == "visit_date",
        )
    ).all()
    [(email, via, new)] = rows
    assert (email, new) == ("coordinator@example.org", "2026-12-31") and re.fullmatch(r"API token site upload \(ecrf_.{6}…\)", via)


# -- concurrent requests -----------------------------------------------------------------------------------------


@pytest.fixture
def two_tokens(sh01, make_user):
    """Two site-staff users of SH01 with a token each (committed: a live server reads them)."""
    people = [make_user(f"{role.value}@example.org", [("defier", sh01, role)]) for role in (Role.COORDINATOR, Role.INVESTIGATOR)]
    secrets = [create_token(person, "race", 30)[1] for person in people]
    db.session.commit()
    return secrets


def _post_at_once(base: str, path: str, secrets: list[str], body: dict, keys: list[str | None]) -> list:
    def call(secret: str, key: str | None):
        headers = {"Authorization": f"Bearer {secret}", **({"Idempotency-Key": key} if key else {})}
        return requests.post(base + path, json=body, headers=headers, timeout=60)

    return at_once([lambda s=s, k=k: call(s, k) for s, k in zip(secrets, keys, strict=True)])


def test_two_enrolments_of_one_patient_at_once_enrol_once_and_the_other_is_told_409(live_server, two_tokens, sh01, make_screening):
    for _ in range(3):
        record = make_screening("defier", sh01)
        body = {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"}
        responses = _post_at_once(live_server, f"/api/v1/screening/{record.screening_number}/enrol", two_tokens, body, [None, None])
        assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
        db.session.expire_all()
        enrolled = db.session.get(ScreeningRecord, record.id)
        loser = next(r for r in responses if r.status_code == 409)
        assert f"already enrolled as {enrolled.subject.subject_code}" in loser.json()["errors"][0]["message"]
        assert db.session.scalar(select(func.count(Subject.id)).where(Subject.id == enrolled.subject_id)) == 1
    assert subject_count() == 3


def test_one_enrolment_sent_twice_at_once_with_one_key_enrols_once_and_answers_both_with_it(live_server, two_tokens, sh01, make_screening):
    for round_ in range(3):
        record = make_screening("defier", sh01)
        body = {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"}
        key = f"twice-{round_}"
        responses = _post_at_once(live_server, f"/api/v1/screening/{record.screening_number}/enrol", [two_tokens[0]] * 2, body, [key, key])
        assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
        assert responses[0].json() == responses[1].json()
        assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == ["", "true"]
    assert subject_count() == 3
