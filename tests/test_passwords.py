"""Passwords: the policy, changing one's own, a forgotten one through an emailed link, one-time passwords set by an admin."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import PasswordReset, Role, User, UserSession
from ecrf.auth.passwords import password_problems
from ecrf.extensions import db
from ecrf.notify.models import OutboxEmail
from ecrf.notify.outbox import send_due
from tests.conftest import PASSWORD, csrf_token, post_form
from tests.web import WebUser

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NEW = "a long and new passphrase"
SENT = "If an account exists for that address, an email with a link has been sent; the link works once, for 60 minutes."
_ERRORS = re.compile(r'<div class="(?:invalid-feedback d-block|alert alert-danger)">([^<]*)</div>')
_LINK = re.compile(r"http://\S+/password/reset/\S+")


def _errors(response) -> list[str]:
    return [unescape(m) for m in _ERRORS.findall(response.get_data(as_text=True))]


def _last_audit_id() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def _actions(since: int, user: User | None = None) -> list[tuple[str, str | None]]:
    stmt = select(AuditEvent).where(AuditEvent.id > since, AuditEvent.action.not_in(["create", "update", "delete"])).order_by(AuditEvent.id)
    if user is not None:
        stmt = stmt.where(AuditEvent.object_id == str(user.id))
    return [(e.action, e.reason) for e in db.session.scalars(stmt)]


def _log_in(client, email: str, password: str = PASSWORD):
    return post_form(client, "/login", {"email": email, "password": password})


# --- the policy ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password, message",
    [
        ("short pass", "Password: at least 12 characters (up to 200); a few unrelated words make a long password that is easy to remember."),
        ("x" * 150 + "y" * 51, "Password: at most 200 characters."),
        (" " * 14, "Password: not only spaces; use letters, digits or other characters too."),
        ("aaaaaaaaaaaaaa", "Password: not one character repeated; choose something harder to guess."),
        ("Carla.Coordinator@Hospital.org", "Password: not the account's email address nor its part before the @; choose something else."),
        ("carla.coordinator", "Password: not the account's email address nor its part before the @; choose something else."),
        ("qwerty123456", "Password: this is one of the most common passwords, which attackers try first; choose another."),
        ("1QAZ2WSX3EDC", "Password: this is one of the most common passwords, which attackers try first; choose another."),
    ],
)
def test_the_policy_refuses_weak_passwords_naming_the_field_and_what_is_allowed(password, message):
    assert password_problems(password, "carla.coordinator@hospital.org") == [message]


@pytest.mark.parametrize("password", ["correct horse battery", "twelve chars", "Zürich 2026 Lindenhof", "   spaces  around   "])
def test_the_policy_accepts_long_uncommon_passwords_of_any_characters(password):
    assert password_problems(password, "carla.coordinator@hospital.org") == []


def test_the_policy_messages_name_the_field_given():
    assert password_problems("short", label="New password")[0].startswith("New password: at least 12 characters")


# --- changing one's own password -----------------------------------------------------------------------------


def test_the_navbar_links_to_the_change_password_page(client, make_user, login):
    login(make_user("c@example.org"))
    assert 'href="/account/password"' in client.get("/").get_data(as_text=True)


def test_a_user_changes_their_password_and_it_is_audited(app, client, make_user, login):
    user = make_user("c@example.org")
    login(user)
    start = _last_audit_id()
    response = post_form(client, "/account/password", {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW})
    assert response.status_code == 302 and response.location == "/"
    assert "Your password is changed." in client.get("/").get_data(as_text=True)
    assert ("password_changed", None) in _actions(start, user)
    hidden = [
        (e.field, e.old_value, e.new_value) for e in db.session.scalars(select(AuditEvent).where(AuditEvent.id > start, AuditEvent.field == "password_hash"))
    ]
    assert hidden == [("password_hash", "(hidden)", "(changed)")]
    assert _log_in(app.test_client(), "c@example.org", NEW).status_code == 302
    assert _log_in(app.test_client(), "c@example.org", PASSWORD).status_code == 200


@pytest.mark.parametrize(
    "data, field_message",
    [
        (
            {"current_password": PASSWORD, "new_password": "short", "repeat_password": "short"},
            "New password: at least 12 characters (up to 200); a few unrelated words make a long password that is easy to remember.",
        ),
        (
            {"current_password": PASSWORD, "new_password": "password1234", "repeat_password": "password1234"},
            "New password: this is one of the most common passwords, which attackers try first; choose another.",
        ),
        ({"current_password": PASSWORD, "new_password": PASSWORD, "repeat_password": PASSWORD}, "New password: must differ from the current password."),
        (
            {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW + "!"},
            "Repeat the new password: not the same as the new password; type it again.",
        ),
        ({"current_password": "", "new_password": NEW, "repeat_password": NEW}, "Current password: required."),
        ({"current_password": "wrong", "new_password": NEW, "repeat_password": NEW}, "Current password: not correct; type the password you use to log in."),
    ],
)
def test_a_refused_password_change_names_the_field_and_changes_nothing(client, make_user, login, data, field_message):
    user = make_user("c@example.org")
    login(user)
    response = post_form(client, "/account/password", data)
    assert response.status_code == 200 and field_message in _errors(response)
    db.session.refresh(user)
    assert user.check_password(PASSWORD)
    assert client.get("/").status_code == 200  # still logged in


def test_a_wrong_current_password_counts_toward_the_lock(client, make_user, login):
    user = make_user("c@example.org")
    login(user)
    post_form(client, "/account/password", {"current_password": "wrong", "new_password": NEW, "repeat_password": NEW})
    db.session.refresh(user)
    assert user.failed_logins == 1


# --- a forgotten password ------------------------------------------------------------------------------------


def _ask_for_link(client, email: str):
    return post_form(client, "/password/forgot", {"email": email})


def test_the_log_in_page_links_to_the_forgotten_password_page_which_needs_no_log_in(client):
    assert 'href="/password/forgot"' in client.get("/login").get_data(as_text=True)
    assert client.get("/password/forgot").status_code == 200


def test_asking_for_a_link_answers_the_same_whether_or_not_the_account_exists(app, make_user):
    make_user("c@example.org")
    disabled = make_user("gone@example.org")
    disabled.active = False
    db.session.commit()
    answers = []
    for email in ("c@example.org", "nobody.reset@example.org", "gone@example.org"):
        client = app.test_client()
        response = _ask_for_link(client, email)
        assert response.status_code == 302 and response.location == "/login"
        page = client.get("/login").get_data(as_text=True)
        answers.append(SENT in page)
    assert answers == [True, True, True]
    assert db.session.scalars(select(OutboxEmail.recipient).where(OutboxEmail.kind == "password_reset")).all() == ["c@example.org"]


def test_a_reset_link_arrives_by_email_works_once_and_ends_every_session(app, client, make_user, smtp_server):
    user = make_user("c@example.org")
    user.failed_logins, user.locked_until = 3, T0 + timedelta(days=400)  # locked, as if someone had tried
    user.must_change_password = True
    db.session.commit()
    logged_in = app.test_client()
    start = _last_audit_id()
    _ask_for_link(client, " C@example.org ")
    assert send_due(datetime.now(UTC)) == (1, 0)
    [message] = smtp_server.to("c@example.org")
    text = message.get_body(("plain",)).get_content()
    link = _LINK.search(text).group(0)
    assert link.startswith(app.config["ECRF_BASE_URL"] + "/password/reset/")
    token = link.rsplit("/", 1)[1]
    assert token not in str(db.session.scalars(select(PasswordReset.token_sha256)).all())
    path = link[len(app.config["ECRF_BASE_URL"]) :]
    page = client.get(path)
    assert page.status_code == 200 and "c@example.org" in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    response = post_form(client, path, {"new_password": NEW, "repeat_password": NEW})
    assert response.status_code == 302 and response.location == "/login"
    assert "Your new password is set" in client.get("/login").get_data(as_text=True)
    db.session.refresh(user)
    assert (user.failed_logins, user.locked_until, user.must_change_password) == (0, None, False)
    assert [a for a, _ in _actions(start, user)] == ["password_reset_requested", "password_reset"]
    again = client.get(path)
    assert again.status_code == 404 and "This link has already been used: each link works once." in again.get_data(as_text=True)
    reposted = client.post(
        path, data={"csrf_token": csrf_token(client, "/password/forgot"), "new_password": "yet another passphrase", "repeat_password": "yet another passphrase"}
    )
    assert reposted.status_code == 404
    assert _log_in(logged_in, "c@example.org", NEW).status_code == 302


def test_a_reset_ends_every_open_session_of_the_account(app, client, make_user, smtp_server):
    user = make_user("c@example.org")
    browser = app.test_client()
    _log_in(browser, "c@example.org")
    _ask_for_link(client, "c@example.org")
    send_due(datetime.now(UTC))
    link = _LINK.search(smtp_server.to("c@example.org")[0].get_body(("plain",)).get_content()).group(0)
    post_form(client, link[len(app.config["ECRF_BASE_URL"]) :], {"new_password": NEW, "repeat_password": NEW})
    assert browser.get("/").status_code == 302
    assert db.session.scalars(select(UserSession.end_reason).where(UserSession.user_id == user.id)).all() == ["password reset"]


def test_an_expired_link_is_refused_with_a_clear_message(app, client, make_user, smtp_server, clock):
    make_user("c@example.org")
    with clock(T0):
        _ask_for_link(client, "c@example.org")
        send_due(T0)
    link = _LINK.search(smtp_server.to("c@example.org")[0].get_body(("plain",)).get_content()).group(0)
    path = link[len(app.config["ECRF_BASE_URL"]) :]
    with clock(T0 + timedelta(minutes=59)):
        assert client.get(path).status_code == 200
    with clock(T0 + timedelta(minutes=60)):
        response = client.get(path)
        assert response.status_code == 404
        assert "This link expired at 2026-03-02 11:00 UTC: links work for 60 minutes. Ask for a new one below." in response.get_data(as_text=True)


def test_an_unknown_link_is_refused_with_a_clear_message_not_an_error(client):
    response = client.get("/password/reset/not-a-token")
    assert response.status_code == 404
    assert "This link is not valid" in response.get_data(as_text=True)


def test_a_new_password_through_the_link_must_meet_the_policy_and_the_link_stays_usable(app, client, make_user, smtp_server):
    make_user("c@example.org")
    _ask_for_link(client, "c@example.org")
    send_due(datetime.now(UTC))
    path = _LINK.search(smtp_server.to("c@example.org")[0].get_body(("plain",)).get_content()).group(0)[len(app.config["ECRF_BASE_URL"]) :]
    response = post_form(client, path, {"new_password": "c@example.org", "repeat_password": "c@example.org"})
    assert "New password: not the account's email address nor its part before the @; choose something else." in _errors(response)
    assert post_form(client, path, {"new_password": NEW, "repeat_password": NEW}).status_code == 302


def test_at_most_one_reset_email_per_account_every_five_minutes(client, make_user, clock):
    user = make_user("c@example.org")
    with clock(T0):
        _ask_for_link(client, "c@example.org")
    with clock(T0 + timedelta(minutes=4)):
        _ask_for_link(client, "c@example.org")
    with clock(T0 + timedelta(minutes=5, seconds=1)):
        _ask_for_link(client, "c@example.org")
    assert db.session.scalar(select(func.count(OutboxEmail.id)).where(OutboxEmail.kind == "password_reset")) == 2
    assert db.session.scalar(select(func.count(PasswordReset.id)).where(PasswordReset.user_id == user.id)) == 2


def test_two_posts_of_one_link_at_once_use_it_once(app, live_server, make_user, smtp_server):
    make_user("c@example.org")
    WebUser(live_server).submit("/password/forgot", {"email": "c@example.org"})
    send_due(datetime.now(UTC))
    path = _LINK.search(smtp_server.to("c@example.org")[0].get_body(("plain",)).get_content()).group(0)[len(app.config["ECRF_BASE_URL"]) :]
    browsers = [WebUser(live_server) for _ in range(2)]
    forms = [browser.hidden_fields(path) for browser in browsers]
    passwords = ["first new passphrase", "second new passphrase"]
    barrier = threading.Barrier(2)

    def post(i: int):
        barrier.wait(timeout=30)
        return browsers[i].post(path, {"new_password": passwords[i], "repeat_password": passwords[i]}, hidden=forms[i])

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(post, range(2)))
    assert sorted(r.status_code for r in responses) == [302, 404]
    winner = passwords[[r.status_code for r in responses].index(302)]
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "c@example.org"))
    assert user.check_password(winner)


def test_the_scheduler_sends_due_emails_every_minute(app, make_user, smtp_server, monkeypatch):
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    import ecrf.scheduler

    scheduler = BackgroundScheduler(jobstores={"default": MemoryJobStore()}, timezone=UTC)
    scheduler.start(paused=True)
    try:
        ecrf.scheduler.add_jobs(scheduler)
        jobs = {job.id: job.trigger.interval for job in scheduler.get_jobs()}
        assert jobs == {"nightly": timedelta(minutes=5), "outbox": timedelta(minutes=1), "exports": timedelta(minutes=1), "idempotency": timedelta(hours=1)}
    finally:
        scheduler.shutdown(wait=False)
    make_user("c@example.org")
    _ask_for_link(app.test_client(), "c@example.org")
    monkeypatch.setattr(ecrf.scheduler, "_app", app)
    assert ecrf.scheduler.outbox_job() == (1, 0)
    assert len(smtp_server.to("c@example.org")) == 1


# --- one-time passwords set by an admin ----------------------------------------------------------------------


@pytest.fixture
def admin(make_site, make_user, login):
    site = make_site("SH01", ["defier"])
    user = make_user("admin@example.org", [("defier", site, Role.ADMIN)], name="Ada Admin")
    login(user)
    return user


def test_an_account_created_by_an_admin_must_choose_its_own_password_before_anything_else(app, client, admin):
    page = post_form(client, "/admin/users/new", {"email": "new@example.org", "full_name": "New User", "password": ""}).get_data(as_text=True)
    one_time = re.search(r"Generated password: <code>([^<]+)</code>", page).group(1)
    user = db.session.scalar(select(User).where(User.email == "new@example.org"))
    assert user.must_change_password
    browser = app.test_client()
    response = _log_in(browser, "new@example.org", one_time)
    assert response.status_code == 302 and response.location.startswith("/account/password")
    for path in ("/", "/studies/", "/admin/users"):
        response = browser.get(path)
        assert response.status_code == 302 and response.location == "/account/password", path
    assert "choose your own to go on" in browser.get("/account/password").get_data(as_text=True)
    assert browser.get("/static/ecrf.css").status_code == 200
    response = post_form(browser, "/account/password", {"current_password": one_time, "new_password": NEW, "repeat_password": NEW})
    assert response.status_code == 302
    assert browser.get("/").status_code == 200
    db.session.refresh(user)
    assert not user.must_change_password


def test_a_user_holding_a_one_time_password_can_still_log_out(app, client, admin):
    page = post_form(client, "/admin/users/new", {"email": "new@example.org", "full_name": "New User", "password": ""}).get_data(as_text=True)
    one_time = re.search(r"Generated password: <code>([^<]+)</code>", page).group(1)
    browser = app.test_client()
    _log_in(browser, "new@example.org", one_time)
    response = browser.post("/logout", data={"csrf_token": csrf_token(browser, "/account/password")})
    assert response.status_code == 302 and response.location == "/login"
    assert browser.get("/account/password").status_code == 302


@pytest.mark.parametrize(
    "password, message",
    [
        ("password1234", "Initial password: this is one of the most common passwords, which attackers try first; choose another."),
        ("new@example.org", "Initial password: not the account's email address nor its part before the @; choose something else."),
    ],
)
def test_an_admin_typed_initial_password_must_meet_the_policy(client, admin, password, message):
    response = post_form(client, "/admin/users/new", {"email": "new@example.org", "full_name": "New User", "password": password})
    assert response.status_code == 200 and message in _errors(response)
    assert db.session.scalar(select(User).where(User.email == "new@example.org")) is None


def test_an_admin_sets_a_one_time_password_for_a_locked_out_user(app, client, admin, make_user):
    user = make_user("c@example.org")
    browser = app.test_client()
    _log_in(browser, "c@example.org")
    user.failed_logins, user.locked_until = 0, datetime.now(UTC) + timedelta(minutes=10)
    db.session.commit()
    assert f'action="/admin/users/{user.id}/password"' in client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    start = _last_audit_id()
    response = client.post(f"/admin/users/{user.id}/password", data={"csrf_token": csrf_token(client, f"/admin/users/{user.id}")})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    one_time = re.search(r"One-time password: <code>([^<]+)</code>", page).group(1)
    assert password_problems(one_time, "c@example.org") == []
    db.session.refresh(user)
    assert user.must_change_password and user.locked_until is None
    assert browser.get("/").status_code == 302  # the user's sessions ended
    assert ("one_time_password_set", None) in _actions(start, user)
    assert _log_in(app.test_client(), "c@example.org", one_time).location.startswith("/account/password")


def test_an_admin_cannot_set_a_one_time_password_on_their_own_account(client, admin):
    response = client.post(f"/admin/users/{admin.id}/password", data={"csrf_token": csrf_token(client, f"/admin/users/{admin.id}")})
    assert response.status_code == 302
    assert "This is your own account" in client.get(response.location).get_data(as_text=True)
    db.session.refresh(admin)
    assert not admin.must_change_password and admin.check_password(PASSWORD)
