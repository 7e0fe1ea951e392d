"""Server-side sessions: a copied cookie stops working when its session ends; log-in starts a new session;
`next=` after log-in is followed only to a plain path on this site."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from ecrf.auth.models import UserSession
from ecrf.auth.sessions import SESSION_TOKEN, session_user, token_digest
from ecrf.extensions import db
from tests.conftest import PASSWORD, csrf_token, post_form

T0 = datetime(2026, 3, 2, 10, 0)
NEW = "a long and new passphrase"


def _cookie(client) -> str:
    return client.get_cookie("session").value


def _copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", _cookie(client))
    return thief


def _logout(client):
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def _rows(user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)))


def test_a_cookie_copied_before_log_out_no_longer_works_after_it(app, client, make_user, login):
    user = make_user("c@example.org")
    login(user)
    copy = _copy_of(app, client)
    assert copy.get("/").status_code == 200  # the copy works while the session is open ...
    _logout(client)
    assert copy.get("/").status_code == 302  # ... and not after the log-out
    assert [(row.end_reason, row.ended_at is not None) for row in _rows(user)] == [("logout", True)]


def test_a_cookie_copied_before_a_password_change_stops_working_while_this_browser_goes_on(app, client, make_user, login):
    user = make_user("c@example.org")
    login(user)
    copy = _copy_of(app, client)
    elsewhere = app.test_client()
    post_form(elsewhere, "/login", {"email": "c@example.org", "password": PASSWORD})
    before = csrf_token(client, "/account/password")
    response = post_form(client, "/account/password", {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert copy.get("/").status_code == 302 and elsewhere.get("/").status_code == 302
    assert csrf_token(client, "/") != before  # a fresh session and CSRF token for this browser
    rows = _rows(user)
    assert [row.end_reason for row in rows] == ["password changed", "password changed", None]


def test_log_in_gives_a_different_session_cookie_and_csrf_token_than_the_page_before(client, make_user):
    make_user("c@example.org")
    token_before = csrf_token(client, "/login")
    cookie_before = _cookie(client)
    response = client.post("/login", data={"csrf_token": token_before, "email": "c@example.org", "password": PASSWORD})
    assert response.status_code == 302
    assert _cookie(client) != cookie_before
    assert csrf_token(client, "/") != token_before


def test_a_cookie_from_before_log_in_is_not_logged_in_by_it(app, client, make_user):
    make_user("c@example.org")
    csrf_token(client, "/login")
    earlier = _copy_of(app, client)  # someone who planted or saw the anonymous cookie
    post_form(client, "/login", {"email": "c@example.org", "password": PASSWORD})
    assert earlier.get("/").status_code == 302


def test_the_session_row_keeps_only_a_hash_of_the_cookies_token(app, client, make_user, login):
    user = make_user("c@example.org")
    login(user)
    serializer = app.session_interface.get_signing_serializer(app)
    token = serializer.loads(_cookie(client))[SESSION_TOKEN]
    [row] = _rows(user)
    assert row.token_sha256 == token_digest(token) and token not in row.token_sha256


def test_the_user_loader_reads_the_user_and_its_open_session_in_one_query(client, make_user, login, app, count_queries):
    user = make_user("c@example.org")
    login(user)
    token = app.session_interface.get_signing_serializer(app).loads(_cookie(client))[SESSION_TOKEN]
    user_id = str(user.id)
    db.session.expire_all()
    with count_queries() as statements:
        found = session_user(user_id, token)
    assert len(statements) == 1 and found.email == "c@example.org"
    assert session_user(str(user.id), "not-the-token") is None
    assert session_user("x1", token) is None


def test_an_idle_session_ends_on_the_server(client, make_user, login, clock):
    user = make_user("c@example.org")
    with clock(T0):
        login(user)
    with clock(T0 + timedelta(minutes=31)):
        assert client.get("/").status_code == 302
    assert [row.end_reason for row in _rows(user)] == ["idle"]


def test_a_cookie_older_than_flasks_limit_ends_its_session_row_too(client, make_user, login, clock):
    user = make_user("c@example.org")
    with clock(T0):
        login(user)
    with clock(T0 + timedelta(hours=3)):
        assert client.get("/").status_code == 302
    assert [row.end_reason for row in _rows(user)] == ["idle"]


def test_disabling_an_account_ends_its_session_rows(app, client, make_site, make_user, login):
    from ecrf.auth.models import Role

    site = make_site("SH01", ["defier"])
    admin = make_user("admin@example.org", [("defier", site, Role.ADMIN)])
    user = make_user("c@example.org")
    other = app.test_client()
    post_form(other, "/login", {"email": "c@example.org", "password": PASSWORD})
    login(admin)
    client.post(f"/admin/users/{user.id}/disable", data={"csrf_token": csrf_token(client, f"/admin/users/{user.id}")})
    assert [row.end_reason for row in _rows(user)] == ["account disabled"]
    user.active = True  # even re-enabled, the ended session stays ended
    db.session.commit()
    assert other.get("/").status_code == 302


ODD_TARGETS = [
    "/studies/\r\nSet-Cookie: x=1",
    "/studies/\nx",
    "/studies/\tx",
    "/\t/evil.example",
    "/\\evil.example",
    "/studies\\..\\x",
    "/studies/\x01",
    "/studies/\x7f",
    "/studies/\x85",
    "http://evil.example/",
    "//evil.example/",
    "/\u2028/evil.example",
    "javascript:alert(1)",
    "",
]


@pytest.mark.parametrize("target", ODD_TARGETS)
def test_next_with_control_characters_or_a_backslash_falls_back_to_the_worklist(app, target):
    from ecrf.auth.views import _safe_next

    with app.test_request_context():
        assert _safe_next(target) == "/"


@pytest.mark.parametrize("target", ODD_TARGETS)
def test_logging_in_with_an_odd_next_never_follows_it_nor_fails(client, make_user, target):
    make_user("c@example.org")
    token = csrf_token(client, "/login")
    response = client.post(f"/login?next={quote(target)}", data={"csrf_token": token, "email": "c@example.org", "password": PASSWORD})
    # The worklist, or a refusal of the whole request (a query string with control characters): never the target, never a 500.
    assert (response.status_code, response.location) == (302, "/") or response.status_code == 400


def test_a_plain_next_path_with_a_query_is_followed(client, make_user):
    make_user("c@example.org")
    response = post_form(client, f"/login?next={quote('/studies/?page=2')}", {"email": "c@example.org", "password": PASSWORD})
    assert response.location == "/studies/?page=2"
