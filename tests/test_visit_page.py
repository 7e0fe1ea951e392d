"""The visit page: recording the visit date and listing the forms the visit needs."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from ecrf.auth.models import Role
from ecrf.extensions import db
from tests.conftest import post_form

NOW = datetime(2027, 6, 1, 4)  # noon in Shanghai


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "angel-icas"])


@pytest.fixture
def subject(make_subject, site):
    return make_subject("defier", site, date(2027, 1, 1), arm="des")  # m3 window 2027-03-18..04-15


@pytest.fixture
def coordinator(make_user, site, login):
    return login(make_user("c@example.org", [("defier", site, Role.COORDINATOR), ("angel-icas", site, Role.COORDINATOR)]))


def _visit(subject, code):
    db.session.expire_all()
    return next(v for v in subject.visits if v.definition.code == code)


def test_a_date_in_the_window_completes_the_visit_in_window(coordinator, subject):
    response = post_form(coordinator, f"/subjects/{subject.subject_code}/visits/m3", {"visit_date": "2027-04-15"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "completed in window" in page
    assert _visit(subject, "m3").visit_date == date(2027, 4, 15)


def test_a_date_after_the_window_needs_a_deviation_reason_and_records_a_deviation(coordinator, subject):
    url = f"/subjects/{subject.subject_code}/visits/m3"
    refused = post_form(coordinator, url, {"visit_date": "2027-04-16"}).get_data(as_text=True)
    assert "Deviation reason: required; 2027-04-16 is outside the window 2027-03-18 to 2027-04-15" in refused and 'value="2027-04-16"' in refused
    assert _visit(subject, "m3").visit_date is None
    response = post_form(coordinator, url, {"visit_date": "2027-04-16", "deviation_reason": "patient travelling"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "outside the window 2027-03-18 to 2027-04-15" in page and 'data-status="completed out of window"' in page
    log = coordinator.get("/studies/defier/deviations").get_data(as_text=True)
    assert "visit out of window" in log and "patient travelling" in log and "3 months on 2027-04-16" in log


@pytest.mark.parametrize(
    ("entered", "message"),
    [
        ("2027-06-02", "Visit date: must not be after today at the site (2027-06-01)."),
        ("2026-12-31", "Visit date: must not be before the procedure date (2027-01-01)."),
        ("31/12/2026", "Visit date: not a valid date; enter it as YYYY-MM-DD."),
        ("", "Visit date: required; enter the date the visit took place as YYYY-MM-DD."),
    ],
)
def test_a_bad_visit_date_is_refused_with_the_input_kept_and_the_saved_date_untouched(coordinator, subject, entered, message):
    post_form(coordinator, f"/subjects/{subject.subject_code}/visits/m3", {"visit_date": "2027-04-01"})
    response = post_form(coordinator, f"/subjects/{subject.subject_code}/visits/m3", {"visit_date": entered})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert f'value="{entered}"' in page
    assert _visit(subject, "m3").visit_date == date(2027, 4, 1)


def test_the_visit_lists_the_forms_of_the_subjects_arm(coordinator, subject, make_subject, site):
    des_page = coordinator.get(f"/subjects/{subject.subject_code}/visits/m12").get_data(as_text=True)
    assert 'data-instrument="stent_fracture"' in des_page and 'data-instrument="abi"' in des_page
    dcb = make_subject("defier", site, date(2027, 1, 1), arm="dcb")
    dcb_page = coordinator.get(f"/subjects/{dcb.subject_code}/visits/m12").get_data(as_text=True)
    assert 'data-instrument="stent_fracture"' not in dcb_page and 'data-instrument="duplex"' in dcb_page


def test_an_unknown_visit_code_is_not_found(coordinator, subject):
    assert coordinator.get(f"/subjects/{subject.subject_code}/visits/m99").status_code == 404


def test_a_monitor_sees_the_visit_but_cannot_record_it(client, make_user, site, subject, login):
    login(make_user("m@example.org", [("defier", site, Role.MONITOR)]))
    page = client.get(f"/subjects/{subject.subject_code}/visits/m3").get_data(as_text=True)
    assert "Save visit date" not in page and "2027-03-18 to 2027-04-15" in page
    response = post_form(client, f"/subjects/{subject.subject_code}/visits/m3", {"visit_date": "2027-04-01"})
    assert response.status_code == 403
    assert _visit(subject, "m3").visit_date is None


def test_the_blinded_assessor_never_sees_the_arm(client, make_user, make_subject, site, login):
    subject = make_subject("angel-icas", site, date(2027, 3, 1), arm="stent")
    login(make_user("a@example.org", [("angel-icas", site, Role.BLINDED_ASSESSOR)]))
    for url in ("/", "/studies/angel-icas/sites/SH01", f"/subjects/{subject.subject_code}", f"/subjects/{subject.subject_code}/visits/d90"):
        page = client.get(url).get_data(as_text=True)
        assert "Stent" not in page.replace("angel-icas", ""), url


def test_a_visits_page_shows_its_protocol_deviation_with_the_reason(coordinator, subject):
    url = f"/subjects/{subject.subject_code}/visits/m3"
    assert 'id="deviations"' not in coordinator.get(url).get_data(as_text=True)
    post_form(coordinator, url, {"visit_date": "2027-04-16", "deviation_reason": "patient travelling"})
    page = coordinator.get(url).get_data(as_text=True)
    deviations = page.split('id="deviations"')[1].split("</dd>")[0]
    assert "<strong>reason:</strong> patient travelling" in deviations and "2027-04-16" in deviations
