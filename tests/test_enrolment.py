"""Enrolling subjects: study subject IDs, visits from the protocol, and refusals that keep the input."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select

from ecrf.auth.models import Role
from ecrf.extensions import db
from ecrf.subjects.models import Subject
from tests.conftest import post_form

NOW = datetime(2027, 3, 10, 4, 0)  # 12:00 in Shanghai


@pytest.fixture(autouse=True)
def _now(clock):
    """These tests run at NOW: logging in, posting and checking."""
    with clock(NOW):
        yield


@pytest.fixture
def shanghai(make_site):
    return make_site("SH01", ["defier", "precise-cal", "angel-icas", "leg-deb"])


@pytest.fixture
def coordinator(make_user, shanghai, login):
    user = make_user("coord@example.org", [(s, shanghai, Role.COORDINATOR) for s in ("defier", "precise-cal", "angel-icas", "leg-deb")])
    login(user)
    return user


def subjects() -> list[Subject]:
    db.session.expire_all()
    return db.session.scalars(select(Subject).order_by(Subject.subject_code)).all()


def test_enrolling_in_a_chosen_cohort_study_creates_the_id_arm_and_windows(client, coordinator, clock):
    response = post_form(client, "/studies/defier/sites/SH01/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"})
    assert response.status_code == 302 and response.location == "/subjects/DEF-SH01-0001"
    page = client.get(response.location).get_data(as_text=True)
    (subject,) = subjects()
    assert (subject.subject_code, subject.arm.code, subject.index_date, subject.consent_date) == ("DEF-SH01-0001", "des", date(2027, 3, 2), date(2027, 3, 1))
    windows = [(v.definition.code, v.window_start, v.window_end) for v in subject.visits]
    assert windows[:3] == [("baseline", date(2027, 3, 2), date(2027, 3, 2)), ("m1", date(2027, 3, 25), date(2027, 4, 8)), ("m3", date(2027, 5, 17), date(2027, 6, 14))]
    assert "2027-03-25" in page and "2027-04-08" in page and "DEF-SH01-0001 enrolled" in page


def test_subject_numbers_count_up_per_site(make_subject, shanghai, make_site):
    other = make_site("HZ01", ["defier"])
    codes = [make_subject("defier", site, date(2026, 1, 1)).subject_code for site in (shanghai, shanghai, other)]
    assert codes == ["DEF-SH01-0001", "DEF-SH01-0002", "DEF-HZ01-0001"]


def test_consent_after_day_0_is_refused_naming_the_field_and_keeping_the_input(client, coordinator, clock):
    response = post_form(client, "/studies/defier/sites/SH01/enrol", {"consent_date": "2027-03-05", "index_date": "2027-03-02", "arm": "dcb"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Informed consent date: must be on or before the procedure date (2027-03-02)" in page
    assert 'value="2027-03-05"' in page and 'value="2027-03-02"' in page
    assert re.search(r'<input checked[^>]*value="dcb"', page)
    assert subjects() == []


@pytest.mark.parametrize(("data", "message"), [
    ({"consent_date": "2027-03-01", "index_date": "2027-03-11", "arm": "dcb"}, "must not be after today at the site (2027-03-10)"),
    ({"consent_date": "03/01/2027", "index_date": "2027-03-02", "arm": "dcb"}, "Informed consent date: not a valid date; enter it as YYYY-MM-DD."),
    ({"consent_date": "2027-03-01", "index_date": "", "arm": "dcb"}, "required; enter it as YYYY-MM-DD."),
    ({"consent_date": "2027-03-01", "index_date": "2027-03-02"}, "Cohort: required; choose one of DCB, DES."),
    ({"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "bms"}, "Cohort: required; choose one of DCB, DES."),
])
def test_bad_enrolment_input_gets_a_message_and_saves_nothing(client, coordinator, clock, data, message):
    response = post_form(client, "/studies/defier/sites/SH01/enrol", data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert subjects() == []


def test_randomization_indexed_study_needs_a_time_and_stores_the_instant_in_utc(client, coordinator, clock):
    missing = post_form(client, "/studies/angel-icas/sites/SH01/enrol", {"consent_date": "2027-03-11", "index_date": "2027-03-10"}).get_data(as_text=True)
    assert "Randomization time: required for this study" in missing  # every problem is reported at once
    assert "Informed consent date: must not be after today at the site (2027-03-10)." in missing
    response = post_form(client, "/studies/angel-icas/sites/SH01/enrol", {"consent_date": "2027-03-09", "index_date": "2027-03-10", "index_time": "02:30"})
    assert response.status_code == 302
    (subject,) = subjects()
    assert subject.index_at.astimezone(timezone.utc) == datetime(2027, 3, 9, 18, 30, tzinfo=timezone.utc)
    assert subject.arm is None  # randomized: the arm comes from randomization
    h48 = subject.visits[1]
    assert (h48.definition.code, h48.window_start, h48.window_end) == ("h48", date(2027, 3, 11), date(2027, 3, 13))


def test_an_index_time_in_the_future_is_refused(client, coordinator, clock):
    response = post_form(client, "/studies/angel-icas/sites/SH01/enrol", {"consent_date": "2027-03-10", "index_date": "2027-03-10", "index_time": "13:00"})
    assert "Randomization time: must not be in the future (now 12:00 at the site)." in response.get_data(as_text=True)
    assert subjects() == []


def test_registry_subjects_get_the_single_arm(client, coordinator, clock):
    response = post_form(client, "/studies/leg-deb/sites/SH01/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-01"})
    assert response.status_code == 302
    assert subjects()[0].arm.code == "legflow"


def test_randomized_subject_shows_as_not_yet_randomized(client, coordinator, clock):
    response = post_form(client, "/studies/precise-cal/sites/SH01/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-01"})
    page = client.get(response.location).get_data(as_text=True)
    assert "not yet randomized" in page


def test_a_monitor_may_look_but_not_enrol(client, make_user, shanghai, login):
    login(make_user("monitor@example.org", [("defier", shanghai, Role.MONITOR)]))
    assert client.get("/studies/defier/sites/SH01").status_code == 200
    assert client.get("/studies/defier/sites/SH01/enrol").status_code == 403
    assert db.session.scalar(select(func.count(Subject.id))) == 0
