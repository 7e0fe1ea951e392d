"""Accounts: lockout, audit of log-ins, idle sessions, CSRF on every form, security headers, the admin page."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ecrf import create_app
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Membership, Role, User
from ecrf.extensions import db
from ecrf.guards import is_api_path
from tests.conftest import PASSWORD, csrf_token, post_form

T0 = datetime(2026, 3, 2, 10, 0)
WRONG = "Email or password is not correct. Five failed log-ins in a row lock an account for 15 minutes."
_ERRORS = re.compile(r'<div class="(?:invalid-feedback d-block|alert alert-danger)">([^<]*)</div>')


def _errors(response) -> list[str]:
    return _ERRORS.findall(response.get_data(as_text=True))


def _try(client, email: str, password: str):
    return post_form(client, "/login", {"email": email, "password": password})


def _audit_since(first_id: int) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > first_id).order_by(AuditEvent.id)))


def _last_audit_id() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def _press(client, url: str, data: dict, page: str = "/admin/users"):
    """Press a button of a POST-only route, with the CSRF token of a page showing it."""
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


def _logout(client):
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


# --- lockout -------------------------------------------------------------------------------------------------


def test_four_failed_logins_do_not_lock_the_account(client, make_user, clock):
    make_user("c@example.org")
    with clock(T0):
        for _ in range(4):
            assert _errors(_try(client, "c@example.org", "wrong")) == [WRONG]
        assert _try(client, "c@example.org", PASSWORD).status_code == 302


def test_five_failed_logins_lock_the_account_silently_then_refuse_even_the_right_password(client, make_user, clock):
    user = make_user("c@example.org")
    with clock(T0):
        for _ in range(4):
            _try(client, "c@example.org", "wrong")
        fifth = _errors(_try(client, "c@example.org", "wrong"))
        assert fifth == [WRONG]  # the lock is not revealed to someone who does not know the password
        assert _errors(_try(client, "c@example.org", "wrong")) == [WRONG]
    with clock(T0 + timedelta(minutes=5)):
        response = _try(client, "c@example.org", PASSWORD)
        assert response.status_code == 200
        assert _errors(response) == ["Too many failed log-ins: this account is locked until 2026-03-02 10:15 UTC (in 10 minutes). Try again then."]
        assert client.get("/").status_code == 302  # not logged in
    db.session.refresh(user)
    assert user.locked_until == (T0 + timedelta(minutes=15)).replace(tzinfo=user.locked_until.tzinfo)


def test_the_lock_ends_after_15_minutes(client, make_user, clock):
    make_user("c@example.org")
    with clock(T0):
        for _ in range(5):
            _try(client, "c@example.org", "wrong")
    with clock(T0 + timedelta(minutes=14, seconds=59)):
        assert "locked until" in _errors(_try(client, "c@example.org", PASSWORD))[0]
    with clock(T0 + timedelta(minutes=15)):
        assert _try(client, "c@example.org", PASSWORD).status_code == 302


def test_after_the_lock_the_account_has_five_tries_again(client, make_user, clock):
    make_user("c@example.org")
    with clock(T0):
        for _ in range(5):
            _try(client, "c@example.org", "wrong")
    with clock(T0 + timedelta(minutes=20)):
        for _ in range(4):
            assert _errors(_try(client, "c@example.org", "wrong")) == [WRONG]
        assert _errors(_try(client, "c@example.org", "wrong")) == [WRONG]
        assert "locked until 2026-03-02 10:35 UTC" in _errors(_try(client, "c@example.org", PASSWORD))[0]


def test_a_successful_login_resets_the_count_of_failures(client, make_user, clock):
    user = make_user("c@example.org")
    with clock(T0):
        for _ in range(4):
            _try(client, "c@example.org", "wrong")
        assert _try(client, "c@example.org", PASSWORD).status_code == 302
        _logout(client)
        db.session.refresh(user)
        assert user.failed_logins == 0
        for _ in range(4):
            assert _errors(_try(client, "c@example.org", "wrong")) == [WRONG]
        assert _try(client, "c@example.org", PASSWORD).status_code == 302


def test_an_unknown_email_is_answered_exactly_like_an_existing_account_and_is_never_locked(app, make_user, clock):
    user = make_user("known@example.org")
    known, unknown = app.test_client(), app.test_client()
    with clock(T0):
        for attempt in range(7):
            said_known = _errors(_try(known, "known@example.org", "wrong"))
            said_unknown = _errors(_try(unknown, "nobody.compared@example.org", "wrong"))
            assert said_known == said_unknown == [WRONG], f"attempt {attempt + 1}"
        db.session.refresh(user)
        assert user.locked_until is not None  # the account did lock, silently
        assert _errors(_try(unknown, "nobody.compared@example.org", PASSWORD)) == [WRONG]  # an unknown email is never "locked"
    with clock(T0 + timedelta(minutes=15)):
        assert _errors(_try(known, "known@example.org", "wrong")) == _errors(_try(unknown, "nobody.compared@example.org", "wrong")) == [WRONG]


def test_a_disabled_account_is_refused_with_the_ordinary_message_even_with_the_right_password(client, make_user):
    user = make_user("c@example.org")
    user.active = False
    db.session.commit()
    response = _try(client, "c@example.org", PASSWORD)
    assert _errors(response) == [WRONG] and client.get("/").status_code == 302


# --- audit of log-ins ----------------------------------------------------------------------------------------


def test_login_failed_login_and_lock_each_write_an_audit_row(client, make_user, clock):
    user = make_user("c@example.org")
    start = _last_audit_id()
    with clock(T0):
        _try(client, "nobody.audited@example.org", "wrong")  # the trail outlives tests: an address of this test only
        for _ in range(5):
            _try(client, "C@example.org ", "wrong")
        _try(client, "c@example.org", PASSWORD)  # while locked
    with clock(T0 + timedelta(minutes=15)):
        _try(client, "c@example.org", PASSWORD)
    events = [e for e in _audit_since(start) if e.action in ("login", "login_failed", "account_locked")]
    assert [(e.action, e.object_id, e.new_value, e.reason) for e in events] == [
        ("login_failed", None, "nobody.audited@example.org", "no account with this email"),
        *[("login_failed", str(user.id), "c@example.org", "wrong password")] * 5,
        ("account_locked", str(user.id), "2026-03-02T10:15:00+00:00", "5 failed log-ins in a row"),
        ("login_failed", str(user.id), "c@example.org", "account locked; right password"),
        ("login", str(user.id), None, None),
    ]
    assert {e.object_type for e in events} == {"users"}
    assert events[-1].user_id == user.id and events[-1].user_email == "c@example.org"
    assert all(e.user_id is None for e in events[:-1])


def test_failed_logins_are_audited_with_the_email_as_typed_and_never_the_password(client, make_user):
    make_user("c@example.org")
    start = _last_audit_id()
    _try(client, "c@example.org", "my-secret-guess")
    assert not any("my-secret-guess" in f"{e.old_value}{e.new_value}{e.reason}" for e in _audit_since(start))


# --- idle sessions -------------------------------------------------------------------------------------------


def test_a_session_idle_for_29_minutes_goes_on_and_each_request_refreshes_it(client, make_user, login, clock):
    user = make_user("c@example.org")
    with clock(T0):
        login(user)
    with clock(T0 + timedelta(minutes=29)):
        assert client.get("/").status_code == 200
    with clock(T0 + timedelta(minutes=58)):
        assert client.get("/").status_code == 200


def test_a_session_idle_for_30_minutes_ends_with_a_message_on_the_login_page(client, make_user, login, clock):
    user = make_user("c@example.org")
    with clock(T0):
        login(user)
    with clock(T0 + timedelta(minutes=30)):
        response = client.get("/studies/")
        assert response.status_code == 302 and response.location == "/login?next=/studies/"
        page = client.get(response.location).get_data(as_text=True)
        assert "Your session ended after 30 minutes without activity. Please log in again." in page
        assert client.get("/").status_code == 302  # logged out, not just redirected once


def test_a_session_cookie_older_than_the_idle_limit_is_refused_with_the_same_message(client, make_user, login, clock):
    user = make_user("c@example.org")
    with clock(T0):
        login(user)
    with clock(T0 + timedelta(hours=3)):
        response = client.get("/")
        assert response.status_code == 302 and response.location.startswith("/login")
        page = client.get(response.location).get_data(as_text=True)
        assert "Your session ended after 30 minutes without activity." in page
        assert "session ended" not in client.get("/login").get_data(as_text=True)  # said once


def test_logging_out_is_not_reported_as_an_idle_session(client, make_user, login, clock):
    user = make_user("c@example.org")
    with clock(T0):
        login(user)
        _logout(client)
    with clock(T0 + timedelta(hours=1)):
        assert "session ended" not in client.get("/login").get_data(as_text=True)


def test_flasks_session_lifetime_is_the_idle_limit(app):
    assert app.permanent_session_lifetime == timedelta(minutes=app.config["ECRF_IDLE_MINUTES"]) == timedelta(minutes=30)


def test_a_disabled_accounts_open_session_ends_with_its_next_request(client, make_user, login):
    user = make_user("c@example.org")
    login(user)
    user.active = False
    db.session.commit()
    assert client.get("/").status_code == 302


# --- CSRF on every form --------------------------------------------------------------------------------------


def _table_contents() -> dict[str, list]:
    contents = {}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            if table.name == "audit_events":
                contents[table.name] = connection.scalar(select(func.max(table.c.id)))
            else:
                contents[table.name] = sorted(map(tuple, connection.execute(select(table)).all()), key=repr)
    return contents


@pytest.mark.commits
def test_every_post_route_refuses_a_form_without_csrf_token_and_changes_nothing(app, client, make_site, make_user, make_subject, make_screening, login):
    site = make_site("SH01", ["defier"])
    subject = make_subject("defier", site, date(2026, 1, 10))
    screening = make_screening("defier", site)
    roles = [Role.ADMIN, Role.DATA_MANAGER, Role.INVESTIGATOR, Role.MONITOR]
    user = make_user("all@example.org", [("defier", site, role) for role in roles])
    other = make_user("other@example.org", [("defier", site, Role.COORDINATOR)])
    membership = db.session.scalar(select(Membership).where(Membership.user_id == other.id))
    values = {
        "subject_code": subject.subject_code,
        "visit_code": "m1",
        "code": "abi",
        "sequence": 1,
        "number": screening.screening_number,
        "site_code": "SH01",
        "study_code": "defier",
        "user_id": other.id,
        "membership_id": membership.id,
    }
    login(user)
    before = _table_contents()
    walked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods:
            continue
        arguments = {name: values.get(name, 1 if type(rule._converters[name]).__name__ == "IntegerConverter" else "x") for name in rule.arguments}
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **arguments)
        response = client.post(url, data={"email": "all@example.org", "password": PASSWORD, "reason": "x", "text": "x"})
        if is_api_path(url):  # no CSRF there: a token in a header, which a browser never sends on its own; a session is no way in
            assert response.status_code == 401, f"POST {url} with a browser session gave {response.status_code}"
            walked.append(rule.endpoint)
            continue
        assert response.status_code == 400, f"POST {url} without a CSRF token gave {response.status_code}"
        assert "Nothing was saved" in response.get_data(as_text=True)
        walked.append(rule.endpoint)
    assert _table_contents() == before
    assert {"auth.login", "auth.logout", "admin.new_user", "admin.add_membership", "admin.remove_membership", "admin.disable", "admin.enable"} <= set(walked)
    assert client.get("/").status_code == 200  # still logged in: even log-out needs the token


# --- security headers and production settings ----------------------------------------------------------------


def test_every_response_carries_the_security_headers_but_no_hsts_outside_production(client, make_user, login):
    pages = [client.get("/login"), client.get("/static/ecrf.css"), client.get("/no-such-page")]
    login(make_user("c@example.org"))
    pages.append(client.get("/"))
    for response in pages:
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "'unsafe-inline'" not in csp.replace("style-src-attr 'unsafe-inline'", "")  # only style attributes
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers


def test_pages_hold_no_inline_script_or_style_element(client, make_user, login):
    login(make_user("c@example.org"))
    page = client.get("/").get_data(as_text=True) + client.get("/login").get_data(as_text=True)
    assert "<style" not in page
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", page))


def test_production_sends_hsts_and_secure_http_only_same_site_cookies(tmp_path):
    production = create_app(
        "production", {"SECRET_KEY": "production-test-key-0123456789abcdef", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite3'}"}
    )
    assert production.config["SESSION_COOKIE_SECURE"] and production.config["REMEMBER_COOKIE_SECURE"]
    assert production.config["SESSION_COOKIE_HTTPONLY"] and production.config["REMEMBER_COOKIE_HTTPONLY"]
    assert production.config["SESSION_COOKIE_SAMESITE"] == production.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    response = production.test_client().get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- the admin page ------------------------------------------------------------------------------------------


@pytest.fixture
def admin(make_site, make_user, login):
    """An admin (admin role in DEFIER at SH01); SH01 runs DEFIER, HZ01 runs PRECISE CAL."""
    site = make_site("SH01", ["defier"])
    make_site("HZ01", ["precise-cal"])
    user = make_user("admin@example.org", [("defier", site, Role.ADMIN)], name="Ada Admin")
    login(user)
    return user


def _user(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_an_admin_sees_the_users_link_and_every_account_with_its_memberships(client, admin, make_user):
    other = make_user("c@example.org", name="Carl Coordinator")
    other.active = False
    db.session.commit()
    assert 'href="/admin/users"' in client.get("/").get_data(as_text=True)
    page = client.get("/admin/users").get_data(as_text=True)
    assert "admin@example.org" in page and "Ada Admin" in page and "DEFIER · SH01 · admin" in page
    assert "c@example.org" in page and "Carl Coordinator" in page and "disabled" in page


def test_an_admin_creates_a_user_who_can_then_log_in_with_the_password_shown_once(app, client, admin):
    start = _last_audit_id()
    response = post_form(client, "/admin/users/new", {"email": " New.User@Example.org", "full_name": "New User", "password": "twelve-chars-ok"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "twelve-chars-ok" in page and "shown only on this page" in page
    assert response.headers["Cache-Control"] == "no-store"
    user = _user("new.user@example.org")
    assert user.full_name == "New User" and user.active and user.password_hash.startswith("$argon2id$")
    assert "twelve-chars-ok" not in client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    created = [e for e in _audit_since(start) if e.object_type == "users" and e.action == "create"]
    assert {e.user_email for e in created} == {"admin@example.org"}
    assert ("password_hash", "(set)") in {(e.field, e.new_value) for e in created}
    assert _try(app.test_client(), "new.user@example.org", "twelve-chars-ok").status_code == 302


def test_an_empty_initial_password_is_generated_and_shown_once(app, client, admin):
    page = post_form(client, "/admin/users/new", {"email": "g@example.org", "full_name": "G", "password": ""}).get_data(as_text=True)
    password = re.search(r"Generated password: <code>([^<]+)</code>", page).group(1)
    assert len(password) >= 12
    assert _try(app.test_client(), "g@example.org", password).status_code == 302


@pytest.mark.parametrize(
    "data, message",
    [
        ({"email": "not-an-address", "full_name": "N", "password": "long-enough-pw"}, "Email: enter one address, such as name@hospital.org."),
        (
            {"email": "admin@example.org", "full_name": "N", "password": "long-enough-pw"},
            "Email: an account with admin@example.org already exists; accounts are never deleted, so re-enable it instead.",
        ),
        ({"email": "n@example.org", "full_name": "", "password": "long-enough-pw"}, "Full name: required; enter text of at most 200 characters."),
        (
            {"email": "n@example.org", "full_name": "N", "password": "eleven-char"},
            "Initial password: from 12 to 200 characters, or leave it empty to have one generated.",
        ),
    ],
)
def test_creating_a_user_with_bad_input_names_the_field_keeps_the_values_and_saves_nothing(client, admin, data, message):
    users = db.session.scalar(select(func.count(User.id)))
    response = post_form(client, "/admin/users/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in _errors(response)
    for name in ("email", "full_name"):
        if data[name]:
            assert f'value="{data[name]}"' in page
    assert data["password"] not in page
    assert db.session.scalar(select(func.count(User.id))) == users


def test_an_admin_adds_and_removes_a_membership(client, admin, make_user):
    user = make_user("c@example.org")
    response = _press(client, f"/admin/users/{user.id}/memberships", {"study": "precise-cal", "site": "HZ01", "role": "monitor"})
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "c@example.org is now monitor in PRECISE CAL at HZ01." in page
    membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert (membership.study.code, membership.site.code, membership.role) == ("precise-cal", "HZ01", Role.MONITOR)
    response = _press(client, f"/admin/users/{user.id}/memberships/{membership.id}/remove", {})
    assert "c@example.org is no longer monitor in PRECISE CAL at HZ01." in client.get(response.location).get_data(as_text=True)
    assert db.session.scalar(select(func.count(Membership.id)).where(Membership.user_id == user.id)) == 0
    assert _user("c@example.org") is not None


@pytest.mark.parametrize(
    "data, message",
    [
        ({"study": "defier", "site": "HZ01", "role": "coordinator"}, "Site: HZ01 does not run DEFIER; choose a site that runs it."),
        ({"study": "defier", "site": "SH01", "role": "admin"}, "Role: admin@example.org is already admin in DEFIER at SH01."),
        ({"study": "", "site": "SH01", "role": "coordinator"}, "Study: required; choose one of the studies listed."),
        (
            {"study": "defier", "site": "SH01", "role": "surgeon"},
            "Role: choose one of coordinator, investigator, blinded assessor, monitor, data manager, admin.",
        ),
    ],
)
def test_a_bad_membership_names_the_field_keeps_the_values_and_saves_nothing(client, admin, data, message):
    memberships = db.session.scalar(select(func.count(Membership.id)))
    response = _press(client, f"/admin/users/{admin.id}/memberships", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in _errors(response)
    if data["site"]:
        assert f'<option selected value="{data["site"]}">' in page
    assert db.session.scalar(select(func.count(Membership.id))) == memberships


def test_a_disabled_user_cannot_log_in_until_re_enabled_and_is_never_deleted(app, client, admin, make_user):
    user = make_user("c@example.org")
    other = app.test_client()
    assert _try(other, "c@example.org", PASSWORD).status_code == 302  # an open session
    start = _last_audit_id()
    response = _press(client, f"/admin/users/{user.id}/disable", {})
    assert "c@example.org is disabled" in client.get(response.location).get_data(as_text=True)
    assert other.get("/").status_code == 302  # the open session ended
    assert _errors(_try(app.test_client(), "c@example.org", PASSWORD)) == [WRONG]
    assert _user("c@example.org") is not None and not _user("c@example.org").active
    _press(client, f"/admin/users/{user.id}/enable", {})
    assert _user("c@example.org").active
    assert _try(app.test_client(), "c@example.org", PASSWORD).status_code == 302
    changes = [
        (e.action, e.field, e.old_value, e.new_value, e.user_email)
        for e in _audit_since(start)
        if e.object_type == "users" and e.action in ("update", "delete")
    ]
    assert ("update", "active", "true", "false", "admin@example.org") in changes
    assert ("update", "active", "false", "true", "admin@example.org") in changes
    assert not [c for c in changes if c[0] == "delete"]


def test_accounts_can_be_disabled_but_there_is_no_way_to_delete_one(app):
    admin_rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")]
    assert admin_rules
    assert not any("DELETE" in rule.methods or "delete" in rule.rule for rule in admin_rules)


def test_an_admin_cannot_disable_their_own_account_or_remove_the_last_admin_role(client, admin):
    response = _press(client, f"/admin/users/{admin.id}/disable", {})
    assert "You cannot disable your own account; another admin can." in client.get(response.location).get_data(as_text=True)
    membership = db.session.scalar(select(Membership).where(Membership.user_id == admin.id))
    response = _press(client, f"/admin/users/{admin.id}/memberships/{membership.id}/remove", {})
    assert "last active admin" in client.get(response.location).get_data(as_text=True)
    assert _user("admin@example.org").active and db.session.get(Membership, membership.id) is not None


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER, Role.BLINDED_ASSESSOR])
def test_admin_pages_do_not_exist_for_anyone_but_an_admin(app, client, make_site, make_user, login, role):
    site = make_site("SH01", ["defier"])
    target = make_user("t@example.org", [("defier", site, Role.COORDINATOR)])
    membership = db.session.scalar(select(Membership).where(Membership.user_id == target.id))
    login(make_user("x@example.org", [("defier", site, role)]))
    assert 'href="/admin/users"' not in client.get("/").get_data(as_text=True)
    users = db.session.scalar(select(func.count(User.id)))
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin."):
            continue
        with app.test_request_context():
            url = app.url_for(rule.endpoint, **{name: {"user_id": target.id, "membership_id": membership.id}[name] for name in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {
                "csrf_token": csrf_token(client, "/"),
                "email": "n@example.org",
                "full_name": "N",
                "password": "long-enough-pw",
                "study": "defier",
                "site": "SH01",
                "role": "admin",
            }
            response = client.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == 404, f"{method} {url}: {response.status_code}"
    assert db.session.scalar(select(func.count(User.id))) == users
    assert db.session.scalar(select(func.count(Membership.id))) == 2 and _user("t@example.org").active


def test_admin_pages_need_a_login(client):
    response = client.get("/admin/users")
    assert response.status_code == 302 and response.location.startswith("/login?next=")
