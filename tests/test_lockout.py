"""The lockout: counted atomically under concurrent attempts, answered without telling whether an account exists,
shared with the password re-checks of logged-in users (`confirm_identity`)."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from html import unescape

import argon2
import pytest
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.emails import NOT_AN_ADDRESS
from ecrf.auth.models import User, UserSession
from ecrf.auth.services import authenticate, confirm_identity
from ecrf.extensions import db
from ecrf.notify.models import OutboxEmail
from ecrf.notify.outbox import send_due
from tests.conftest import PASSWORD, post_form
from tests.web import WebUser

T0 = datetime(2026, 3, 2, 10, 0)
WRONG = "Email or password is not correct. Five failed log-ins in a row lock an account for 15 minutes."
_ERRORS = re.compile(r'<div class="(?:invalid-feedback d-block|alert alert-danger)">([^<]*)</div>')


def _errors(page: str) -> list[str]:
    return [unescape(m) for m in _ERRORS.findall(page)]


def _try(client, email: str, password: str):
    return post_form(client, "/login", {"email": email, "password": password})


def _last_audit_id() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def _events(since: int, action: str, user: User | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.id > since, AuditEvent.action == action).order_by(AuditEvent.id)
    if user is not None:
        stmt = stmt.where(AuditEvent.object_id == str(user.id))
    return list(db.session.scalars(stmt))


# --- counted atomically ----------------------------------------------------------------------------------------


def test_48_parallel_wrong_passwords_lock_the_account_once(live_server, make_user):
    user = make_user("race@example.org")
    start = _last_audit_id()
    browsers = [WebUser(live_server) for _ in range(48)]
    forms = [browser.hidden_fields("/login") for browser in browsers]  # each its own session and CSRF token
    barrier = threading.Barrier(len(browsers))

    def attempt(i: int):
        barrier.wait(timeout=60)
        return browsers[i].post("/login", {"email": "race@example.org", "password": f"wrong-{i}"}, hidden=forms[i])

    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        responses = list(pool.map(attempt, range(len(browsers))))
    assert [r.status_code for r in responses] == [200] * 48
    assert all(_errors(r.text) == [WRONG] for r in responses)  # every one, the locking one included, says the same

    refused = WebUser(live_server).submit("/login", {"email": "race@example.org", "password": PASSWORD})
    assert refused.status_code == 200 and "this account is locked until" in _errors(refused.text)[0]
    db.session.expire_all()
    assert len(_events(start, "account_locked", user)) == 1
    assert len(_events(start, "login_failed", user)) == 49
    assert db.session.scalar(select(func.count(OutboxEmail.id)).where(OutboxEmail.kind == "account_locked", OutboxEmail.user_id == user.id)) == 1


# --- no account enumeration ------------------------------------------------------------------------------------


@pytest.fixture
def argon2_verifications(monkeypatch):
    """Counts argon2 verifications (the costly step whose presence in every branch keeps the timing alike)."""
    calls = []
    original = argon2.PasswordHasher.verify

    def counting(self, hash_, password):
        calls.append(hash_)
        return original(self, hash_, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting)
    return calls


def _locked(user: User) -> User:
    user.locked_until = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    db.session.commit()
    return user


def _disabled(user: User) -> User:
    user.active = False
    db.session.commit()
    return user


@pytest.mark.parametrize(
    "branch, email, password, prepare",
    [
        ("unknown email", "nobody.timed@example.org", PASSWORD, None),
        ("wrong password", "c@example.org", "wrong", None),
        ("locked, wrong password", "c@example.org", "wrong", _locked),
        ("locked, right password", "c@example.org", PASSWORD, _locked),
        ("disabled, right password", "c@example.org", PASSWORD, _disabled),
        ("disabled, wrong password", "c@example.org", "wrong", _disabled),
        ("right password", "c@example.org", PASSWORD, None),
    ],
)
def test_every_log_in_branch_spends_exactly_one_argon2_verification(make_user, clock, argon2_verifications, branch, email, password, prepare):
    user = make_user("c@example.org")
    if prepare:
        prepare(user)
    with clock(T0):
        authenticate(email, password)
    assert len(argon2_verifications) == 1, branch


def test_unknown_email_wrong_password_locked_and_disabled_accounts_all_get_the_same_message(app, make_user, clock):
    make_user("c@example.org")
    _locked(make_user("locked@example.org"))
    _disabled(make_user("disabled@example.org"))
    with clock(T0):
        said = {
            "unknown": _errors(_try(app.test_client(), "nobody.same@example.org", "wrong").get_data(as_text=True)),
            "wrong password": _errors(_try(app.test_client(), "c@example.org", "wrong").get_data(as_text=True)),
            "locked, wrong password": _errors(_try(app.test_client(), "locked@example.org", "wrong").get_data(as_text=True)),
            "disabled, right password": _errors(_try(app.test_client(), "disabled@example.org", PASSWORD).get_data(as_text=True)),
        }
        assert set(map(tuple, said.values())) == {(WRONG,)}, said
        only_the_owner = _errors(_try(app.test_client(), "locked@example.org", PASSWORD).get_data(as_text=True))
        assert only_the_owner == ["Too many failed log-ins: this account is locked until 2026-03-02 10:15 UTC (in 15 minutes). Try again then."]


def test_failures_of_an_unknown_email_are_not_counted_from_the_audit_trail(client, clock):
    start = _last_audit_id()
    with clock(T0):
        for _ in range(6):
            assert _errors(_try(client, "nobody.counted@example.org", "wrong").get_data(as_text=True)) == [WRONG]
    reasons = {e.reason for e in _events(start, "login_failed")}
    assert reasons == {"no account with this email"}


def test_the_failure_that_locks_emails_the_owner_until_when_and_what_to_do(client, make_user, clock, smtp_server, app):
    make_user("c@example.org")
    with clock(T0):
        for _ in range(5):
            _try(client, "c@example.org", "wrong")
        db.session.expire_all()
        queued = db.session.scalar(select(OutboxEmail).where(OutboxEmail.kind == "account_locked"))
        assert queued.key.startswith(f"account_locked:{queued.user_id}:2026-03-02T10:00:00")
        assert send_due(datetime(2026, 3, 2, 10, 0, tzinfo=UTC)) == (1, 0)
    [message] = smtp_server.to("c@example.org")
    assert message["Subject"] == "eCRF: your account is locked until 2026-03-02 10:15 UTC"
    text = message.get_body(("plain",)).get_content()
    assert "locked at 2026-03-02 10:00 UTC after 5 wrong passwords in a row" in text
    assert "It can be used again from 2026-03-02 10:15 UTC" in text
    assert "If it was not you" in text and f"{app.config['ECRF_BASE_URL']}/password/forgot" in text


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("  Someone.Typed@Example.ORG ", "someone.typed@example.org"),
        ("a@b.org, c@d.org", NOT_AN_ADDRESS),
        ("drop table users; --", NOT_AN_ADDRESS),
        ("line\r\nbreak@example.org", NOT_AN_ADDRESS),
        ("x" * 250 + "@example.org", NOT_AN_ADDRESS),
    ],
)
def test_failed_logins_keep_only_a_valid_normalised_address_or_a_marker_never_typed_text(typed, stored):
    start = _last_audit_id()
    authenticate(typed, "secret guess 123")
    db.session.commit()
    [event] = _events(start, "login_failed")
    assert event.new_value == stored
    assert "secret guess" not in f"{event.old_value}{event.new_value}{event.reason}"


# --- re-checking a logged-in user's password (signature, password change) --------------------------------------


def test_confirm_identity_accepts_the_right_password_and_resets_the_count(make_user, clock):
    user = make_user("c@example.org")
    with clock(T0):
        for _ in range(4):
            authenticate("c@example.org", "wrong")
        assert confirm_identity(user, PASSWORD, purpose="signature").ok
        db.session.commit()
        db.session.refresh(user)
        assert user.failed_logins == 0


def test_a_wrong_password_check_is_audited_with_its_purpose_and_counts_toward_the_lock(app, make_user, clock):
    user = make_user("c@example.org")
    other_browser = app.test_client()
    with clock(T0):
        assert _try(other_browser, "c@example.org", PASSWORD).status_code == 302
        start = _last_audit_id()
        for _ in range(4):
            authenticate("c@example.org", "wrong")
        check = confirm_identity(user, "wrong", purpose="signature")
        db.session.commit()
        assert not check.ok and check.locked_until is not None
        assert check.locked_until.replace(tzinfo=None) == datetime(2026, 3, 2, 10, 15)
        [failed] = _events(start, "password_check_failed", user)
        assert (failed.reason, failed.new_value, failed.user_id) == ("signature", "wrong password", user.id)
        [locked] = _events(start, "account_locked", user)
        assert "the last for signature" in locked.reason
        assert other_browser.get("/").status_code == 302  # the lock ended every session of the account
        assert db.session.scalar(select(func.count(OutboxEmail.id)).where(OutboxEmail.kind == "account_locked")) == 1


def test_a_locked_account_is_refused_by_confirm_identity_even_with_the_right_password(make_user, clock):
    user = _locked(make_user("c@example.org"))
    start = _last_audit_id()
    with clock(T0):
        check = confirm_identity(user, PASSWORD, purpose="signature")
    db.session.commit()
    assert not check.ok and check.locked_until is not None
    assert [(e.new_value, e.reason) for e in _events(start, "password_check_failed", user)] == [("account locked", "signature")]


def test_a_wrong_email_in_a_password_check_counts_as_a_wrong_answer(make_user, clock):
    user = make_user("c@example.org")
    start = _last_audit_id()
    with clock(T0):
        assert confirm_identity(user, PASSWORD, purpose="signature", email=" C@Example.org ").ok
        assert not confirm_identity(user, PASSWORD, purpose="signature", email="someone.else@example.org").ok
    db.session.commit()
    db.session.refresh(user)
    assert user.failed_logins == 1
    assert [e.new_value for e in _events(start, "password_check_failed", user)] == ["wrong email"]


def test_wrong_current_passwords_on_the_change_password_page_lock_the_account_and_log_out(client, app, make_user, login, clock):
    user = make_user("c@example.org")
    other_browser = app.test_client()
    with clock(T0):
        login(user)
        _try(other_browser, "c@example.org", PASSWORD)
        data = {"current_password": "wrong", "new_password": "a brand new passphrase", "repeat_password": "a brand new passphrase"}
        for _ in range(4):
            page = post_form(client, "/account/password", data).get_data(as_text=True)
            assert "Current password: not correct; type the password you use to log in." in _errors(page)
        response = post_form(client, "/account/password", data)
        assert response.status_code == 302 and response.location == "/login"
        assert "this account is locked until 2026-03-02 10:15 UTC" in client.get("/login").get_data(as_text=True)
        assert client.get("/").status_code == 302 and other_browser.get("/").status_code == 302
    ended = db.session.scalars(select(UserSession.end_reason).where(UserSession.user_id == user.id)).all()
    assert ended == ["account locked", "account locked"]
    db.session.refresh(user)
    assert user.check_password(PASSWORD)  # nothing changed
