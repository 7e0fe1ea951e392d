"""Bad input never reaches a 500: ids beyond 64 bits, control characters, absurd page numbers; error pages that never fail."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from html import unescape

import pytest
from flask import abort
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ecrf import create_app
from ecrf.auth.models import Membership, Role, User
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.extensions import db
from ecrf.instruments.abi import AbiData
from ecrf.queries.services import raise_query
from ecrf.safety.services import refresh_flags
from ecrf.screening.models import ScreeningRecord
from ecrf.subjects.models import Subject
from tests.conftest import PASSWORD, csrf_token, post_form

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
ABI = {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}
#: Absurd values for each kind of URL part: beyond 64 bits and negative ids; an overlong string and a NUL.
#: Beyond 64 bits; beyond PostgreSQL's INTEGER (ids are INTEGER columns: 2**31 made PostgreSQL fail with a 500); negative.
ABSURD_INTS = (2**64, 2**31, -1)
ABSURD_STRINGS = ("x" * 300, "\x00")
INT_PART = re.compile(r"<int(?:\([^)]*\))?:(\w+)>")


@pytest.fixture
def member(make_site, make_user, make_subject, make_screening, login):
    """A user holding every unblinded role at SH01 (DEFIER), logged in, and the values of real objects there."""
    site = make_site("SH01", ["defier"])
    roles = (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.ADMIN)
    user = make_user("member@example.org", [("defier", site, role) for role in roles])
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")  # its 1- and 3-month visits are overdue: flags
    entry = CrfEntry(subject_id=subject.id, visit_id=subject.visits[2].id, instrument="abi", status=EntryStatus.COMPLETE)
    db.session.add(entry)
    db.session.flush()
    values = {
        "subject_code": subject.subject_code,
        "visit_code": "m3",
        "code": "abi",
        "sequence": 1,
        "number": make_screening("defier", site).screening_number,
        "query_id": raise_query(entry, "pt_right", "Source says 125?", user).id,
        "flag_id": refresh_flags([subject])[0].id,
        "site_code": "SH01",
        "study_code": "defier",
        "user_id": user.id,
        "membership_id": db.session.scalar(select(func.min(Membership.id)).where(Membership.user_id == user.id)),
    }
    db.session.commit()
    return login(user), values


def _absurd_urls(app, values: dict):
    """For every route, each URL part in turn given each absurd value of its kind, the others real ones."""
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint.endswith("static"):
            continue
        int_parts = set(INT_PART.findall(rule.rule))
        real = {name: values.get(name, 1 if name in int_parts else "x") for name in rule.arguments}
        for name in sorted(rule.arguments):
            for absurd in ABSURD_INTS if name in int_parts else ABSURD_STRINGS:
                with app.test_request_context():
                    yield rule, name, absurd, app.url_for(rule.endpoint, **{**real, name: absurd})


def test_no_route_answers_500_to_absurd_ids_or_strings_in_its_url(app, member):
    client, values = member
    token = csrf_token(client, "/")
    walked = []
    for rule, name, absurd, url in _absurd_urls(app, values):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.get(url) if method == "GET" else client.open(url, method=method, data={"csrf_token": token})
            status = response.status_code
            if isinstance(absurd, int) or absurd == "\x00":
                assert status == 404, f"{method} {url} ({name}={absurd!r}) gave {status}"
            else:
                assert status < 500, f"{method} {url} ({name}={absurd!r:.20}) gave {status}"  # 404, 403, 302, 410 ...
            walked.append(f"{method} {rule.rule} {name}")
    assert len(walked) >= 100, walked
    assert any("queries" in line and "query_id" in line for line in walked)


@pytest.mark.parametrize("page", [str(2**64), "-1", "0", "abc", "9" * 5000, "2"])
def test_a_page_number_out_of_range_shows_a_page_of_the_list(member, page):
    client, values = member
    response = client.get(f"/studies/defier/sites/SH01?page={page}")
    assert response.status_code == 200
    assert values["subject_code"] in response.get_data(as_text=True)


def test_a_control_character_in_a_query_argument_is_refused_naming_it(member):
    client, _ = member
    response = client.get("/studies/defier/sites/SH01?page=1%00")
    assert response.status_code == 400
    assert ("Parameter 'page' in the address contains a control character (NUL), which is not allowed; remove it and open the page again.") in unescape(
        response.get_data(as_text=True)
    )
    assert "contains a control character (ESC)" in client.get("/studies/defier/sites/SH01?page=%1b").get_data(as_text=True)


def test_tab_cr_and_lf_are_not_control_characters_that_are_refused(member):
    client, _ = member
    assert client.get("/studies/defier/sites/SH01?page=1%09%0d%0a").status_code == 200


# -- real forms: a NUL or a number beyond 64 bits gets a clear message and writes nothing ------------------------


def _nul_refused(response, field: str) -> None:
    assert response.status_code == 400
    assert (f"Field '{field}' contains a control character (NUL), which is not allowed; remove it and send the form again.") in unescape(
        response.get_data(as_text=True)
    )


def test_the_screening_form_refuses_a_nul_and_a_huge_number_and_saves_nothing(member):
    client, _ = member
    url = "/studies/defier/sites/SH01/screening/new"
    before = db.session.scalar(select(func.count(ScreeningRecord.id)))
    _nul_refused(post_form(client, url, {"screening_date": "2027-06-01", "age_years": "6\x005"}), "age_years")
    page = post_form(client, url, {"screening_date": "2027-06-01", "age_years": str(2**70)})
    assert page.status_code == 200 and "Age: not valid; enter a whole number from 0 to 120 years." in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ScreeningRecord.id))) == before


def test_an_instrument_form_refuses_a_nul_and_a_huge_number_and_saves_nothing(member):
    client, values = member
    url = f"/subjects/{values['subject_code']}/visits/m6/forms/abi"
    _nul_refused(post_form(client, url, {**ABI, "pt_right": "12\x000", "action": "complete"}), "pt_right")
    _nul_refused(post_form(client, url, {**ABI, "reason_for_change": "typo\x00", "action": "draft"}), "reason_for_change")
    page = post_form(client, url, {**ABI, "pt_right": str(2**70), "action": "draft"})
    assert page.status_code == 200
    assert "Posterior tibial, right (mmHg): not valid; enter a whole number from 1 to 350 mmHg." in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count(CrfEntry.id))) == 1  # the fixture's m3 entry only
    assert db.session.scalar(select(func.count()).select_from(AbiData)) == 0


def test_the_visit_date_form_refuses_a_nul_and_a_huge_number_and_records_nothing(member):
    client, values = member
    url = f"/subjects/{values['subject_code']}/visits/m6"
    _nul_refused(post_form(client, url, {"visit_date": "2027-05-30\x00"}), "visit_date")
    _nul_refused(post_form(client, url, {"visit_date": "2027-05-30", "deviation_reason": "\x00"}), "deviation_reason")
    page = post_form(client, url, {"visit_date": str(2**70)})
    assert page.status_code == 200 and "Visit date: not a valid date; enter it as YYYY-MM-DD." in page.get_data(as_text=True)
    db.session.expire_all()
    subject = db.session.scalar(select(Subject).where(Subject.subject_code == values["subject_code"]))
    assert next(visit for visit in subject.visits if visit.definition.code == "m6").visit_date is None


# -- error pages never fail ----------------------------------------------------------------------------------


@pytest.fixture
def fresh_app(app):
    """Another app on the same database whose errors reach the error pages (not the test); routes may still be added."""
    fresh = create_app("testing", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "PROPAGATE_EXCEPTIONS": False})
    yield fresh
    with fresh.app_context():
        db.engine.dispose()


@pytest.mark.commits
def test_a_database_error_in_a_view_gets_the_error_page_and_the_next_request_works(fresh_app, make_user, caplog):
    make_user("twin@example.org")

    @fresh_app.route("/test-only/twin-account")
    def twin_account():
        db.session.add(User(email="twin@example.org", full_name="Twin", password_hash="x"))
        db.session.flush()  # the database refuses a second account with the email: the session needs a rollback

    @fresh_app.route("/test-only/twin-account-not-found")
    def twin_account_not_found():
        try:
            twin_account()
        except IntegrityError:
            abort(404)

    with fresh_app.app_context():  # one app context for all requests, as in a CLI command or a test: one session
        client = fresh_app.test_client()
        assert post_form(client, "/login", {"email": "twin@example.org", "password": PASSWORD}).status_code == 302
        failed = client.get("/test-only/twin-account")
        page = failed.get_data(as_text=True)
        assert failed.status_code == 500 and "Something went wrong" in page and "twin@example.org" in page  # the whole page, navbar too
        assert "Exception on /test-only/twin-account [GET]" in caplog.text and "IntegrityError" in caplog.text
        not_found = client.get("/test-only/twin-account-not-found")
        assert not_found.status_code == 404 and "Not found" in not_found.get_data(as_text=True)
        after = client.get("/")
        assert after.status_code == 200 and "Worklist" in after.get_data(as_text=True)
    assert db.session.scalar(select(func.count(User.id)).where(User.email == "twin@example.org")) == 1


def test_when_the_error_page_itself_cannot_be_rendered_a_plain_page_answers(app, make_user, login, tmp_path, caplog):
    client = login(make_user("c@example.org"))
    unreachable = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'no-such-folder' / 'ecrf.sqlite3'}", "PROPAGATE_EXCEPTIONS": False})
    other = unreachable.test_client()  # the same logged-in browser, while the database is unreachable
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    other.set_cookie(cookie.key, cookie.value)
    response = other.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in page and "navbar" not in page
    assert "could not be rendered; sent the plain page" in caplog.text and "unable to open database file" in caplog.text


# -- the API: a control character in a parameter or a JSON value is refused as any bad input, 422 naming it ---------


@pytest.mark.parametrize(
    "method, url, body, field, character",
    [
        ("GET", "/api/v1/studies?cursor=a%00b", None, "cursor", "NUL"),
        ("GET", "/api/v1/studies?limit=1&note=%1b", None, "note", "ESC"),
        ("POST", "/api/v1/studies", {"values": {"comments": ["tab\tand\nnewline are fine", "a\x00b"]}}, "values.comments.1", "NUL"),
        ("POST", "/api/v1/studies", {"reason\x01": "x"}, "reason\\x01", "SOH"),
        ("POST", "/api/v1/studies", "\x00", "body", "NUL"),
    ],
)
def test_the_api_refuses_a_control_character_in_a_parameter_or_a_json_value_naming_it(make_site, make_user, api, method, url, body, field, character):
    user = make_user("api@example.org", [("defier", make_site("SH01", ["defier"]), Role.COORDINATOR)])
    response = api(user).open(method, url, json=body)
    assert response.status_code == 422
    assert response.json == {"errors": [{"field": field, "message": f"{field}: contains a control character ({character}), which is not allowed; remove it."}]}


def test_the_api_lets_tab_cr_and_lf_through(make_site, make_user, api):
    user = make_user("api@example.org", [("defier", make_site("SH01", ["defier"]), Role.COORDINATOR)])
    assert api(user).get("/api/v1/studies?note=a%09b%0d%0a").status_code == 200


@pytest.mark.parametrize("depth", [980, 5000])
def test_a_deeply_nested_json_body_is_refused_as_not_valid_json_never_a_500(make_site, make_user, make_subject, api, app, depth):
    site = make_site("SH01", ["defier"])
    user = make_user("api@example.org", [("defier", site, Role.COORDINATOR)])
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    body = "[" * depth + "]" * depth
    entries = f"/api/v1/subjects/{subject.subject_code}/visits/m3/entries"
    assert app.test_client().post(entries, data=body, content_type="application/json").status_code == 401
    response = api(user).post(entries, data=body, content_type="application/json")
    assert response.status_code == 422 and response.json["errors"][0]["message"].startswith("body: not valid JSON")
    nested = '{"instrument": "abi", "values": ' + "[" * depth + "]" * depth + "}"
    assert api(user).post(entries, data=nested, content_type="application/json").status_code == 422
