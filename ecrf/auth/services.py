"""Authentication: log-ins, re-checking a logged-in user's password, failed attempts and the lock that follows;
choosing a new password (changing it, or through an emailed reset link).

Counting. Failures in a row live on the user (`failed_logins`, `locked_until`) and are counted by one
atomic `UPDATE ... SET failed_logins = failed_logins + 1 ... RETURNING`, then a conditional UPDATE locks
the account when the count reaches the limit, so concurrent wrong attempts each count, on SQLite as on
PostgreSQL. Nothing is counted while a lock is in force and the lock resets the count, so after it the
account has the full number of tries again; a success resets the count too. Wrong answers when a
logged-in user re-enters their password (to sign, to change it: `confirm_identity`) count toward the
same lock.

No account enumeration. Every wrong log-in gets the same answer, which states the policy: an unknown
email, a wrong password, a disabled account, a locked account with a wrong password. Every branch spends
one argon2 verification (a dummy hash for an unknown email; the real hash even while the account is
locked or disabled), so neither the words nor the time tell whether an account exists. The failure that
locks an account is answered in the same words and queues an email to the owner (locked until when, in
UTC, and what to do if it was not them); only the right password during a lock is told "locked until
...". An email without an account is never "locked".

Audit. Every attempt writes an audit row: `login`, or `login_failed` with why in `reason` and, in
`new_value`, the typed email normalised if it is one valid address, else a fixed marker (typed text is
never kept, nor the password). The failure that locks adds `account_locked`; a wrong re-check writes
`password_check_failed` with its purpose as reason. Password changes and resets are audited as
`password_changed`, `password_reset_requested` and `password_reset` (and, through the audit listener,
as changes of the user row, the hash hidden).

Every function here flushes and never commits.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from argon2 import PasswordHasher
from flask import current_app, render_template
from sqlalchemy import CursorResult, Table, func, or_, select, update

from ecrf.audit.trail import record_event, set_actor
from ecrf.auth.emails import email_for_the_record, is_email_address, normalise_email
from ecrf.auth.models import PasswordReset, User, password_hasher
from ecrf.auth.passwords import password_problems
from ecrf.auth.sessions import ACCOUNT_LOCKED, PASSWORD_CHANGED, PASSWORD_RESET, end_sessions, token_digest
from ecrf.clock import now_utc
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.notify.outbox import queue_keyed

__all__ = [
    "LoginAttempt",
    "PasswordCheck",
    "ResetLinkUnusable",
    "authenticate",
    "change_password",
    "complete_password_reset",
    "confirm_identity",
    "normalise_email",
    "request_password_reset",
    "usable_reset",
    "user_by_email",
]

#: `reason` of the audit rows of failed log-ins.
WRONG_PASSWORD = "wrong password"
LOCKED_RIGHT_PASSWORD = "account locked; right password"
LOCKED_WRONG_PASSWORD = "account locked; wrong password"
DISABLED = "account disabled"
NO_ACCOUNT = "no account with this email"

#: A reset link works once, for this long.
RESET_LINK_VALID = timedelta(minutes=60)
#: At most one reset email per account in this time. The form is public, so anyone can ask for a link to be
#: sent to an address they know: without a limit it would flood that mailbox (and our mail server's
#: reputation). The owner who asks again within it still has the link sent a moment ago.
RESET_EMAIL_EVERY = timedelta(minutes=5)
#: The path of a reset link (the route `auth.reset_password`); the service builds links outside any request.
RESET_PATH = "/password/reset/{token}"


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of one log-in attempt: the user on success; `locked_until` only for the right password during a lock."""

    user: User | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of re-checking a logged-in user's password: `locked_until` is set when the account is (now) locked."""

    ok: bool
    locked_until: datetime | None = None


class ResetLinkUnusable(Exception):
    """A password reset link that cannot be used (never issued, used, expired, account disabled); the message says which."""


def max_failures() -> int:
    """Failed attempts in a row that lock an account."""
    return current_app.config["ECRF_MAX_FAILED_LOGINS"]


def lock_duration() -> timedelta:
    """How long a lock lasts."""
    return timedelta(minutes=current_app.config["ECRF_LOCKOUT_MINUTES"])


def user_by_email(email: str) -> User | None:
    """The user with this email (any case), or None."""
    return db.session.scalar(select(User).where(func.lower(User.email) == normalise_email(email)))


# -- log-in and re-checks ------------------------------------------------------------------------------------


def authenticate(email: str, password: str) -> LoginAttempt:
    """Check a log-in attempt, count a failure, lock after too many in a row, and audit it. Flushes, never commits."""
    now, typed = now_utc(), normalise_email(email)
    user = user_by_email(typed) if is_email_address(typed) else None
    if user is None:
        _spend_a_hash(password)  # as long as checking a real password: the time taken does not tell either
        _login_failed(None, typed, NO_ACCOUNT)
        return LoginAttempt()
    right = user.check_password(password)  # always, even for a locked or disabled account (same time)
    if not user.active:
        _login_failed(user.id, typed, DISABLED)
        return LoginAttempt()
    if right:
        if _clear_failures(user, now):
            set_actor(db.session, user)
            record_event(db.session, "login", object_type="users", object_id=user.id, user=user)
            return LoginAttempt(user=user)
        _login_failed(user.id, typed, LOCKED_RIGHT_PASSWORD)
        return LoginAttempt(locked_until=_lock_end(user))  # the lock is revealed to the right password only
    counted, locked_until = _count_failure(user, now)
    _login_failed(user.id, typed, WRONG_PASSWORD if counted else LOCKED_WRONG_PASSWORD)
    if locked_until is not None:
        _locked(user, locked_until, now, f"{max_failures()} failed log-ins in a row")
    return LoginAttempt()  # the failure that locks is answered like any other


def confirm_identity(user: User, password: str, *, purpose: str, email: str | None = None) -> PasswordCheck:
    """Re-check the logged-in user's password (and the email, when given) for `purpose` ("signature", "password change").

    A wrong answer is audited (action "password_check_failed", reason = purpose) and counts toward the same
    lockout as failed log-ins (it may lock the account, which also ends every session of the user: the caller
    should then call `ecrf.auth.sessions.end_current_session`). A locked account is refused even with the
    right password. Flushes, never commits."""
    now = now_utc()
    right = user.check_password(password or "")  # spent in every case: the time does not tell what was wrong
    email_right = email is None or normalise_email(email) == normalise_email(user.email)
    if right and email_right:
        if _clear_failures(user, now):
            return PasswordCheck(ok=True)
        _check_failed(user, purpose, "account locked")
        return PasswordCheck(ok=False, locked_until=_lock_end(user))
    counted, locked_until = _count_failure(user, now)
    if not counted:
        _check_failed(user, purpose, "account locked")
        return PasswordCheck(ok=False, locked_until=_lock_end(user))
    _check_failed(user, purpose, "wrong email" if not email_right else "wrong password")
    if locked_until is None:
        return PasswordCheck(ok=False)
    _locked(user, locked_until, now, f"{max_failures()} failed log-ins or password checks in a row, the last for {purpose}")
    end_sessions(user.id, ACCOUNT_LOCKED)
    return PasswordCheck(ok=False, locked_until=locked_until)


def _not_locked(now: datetime):
    users = cast(Table, User.__table__)
    return or_(users.c.locked_until.is_(None), users.c.locked_until <= now)


def _count_failure(user: User, now: datetime) -> tuple[bool, datetime | None]:
    """Count one failure atomically: (whether it counted — not while a lock is in force —, the lock's end if it locked)."""
    users = cast(Table, User.__table__)
    count = db.session.execute(
        update(users).where(users.c.id == user.id, _not_locked(now)).values(failed_logins=users.c.failed_logins + 1).returning(users.c.failed_logins)
    ).scalar()
    locked_until = None
    if count is not None and count >= max_failures():
        until = now + lock_duration()
        locked = cast(
            CursorResult[Any],
            db.session.execute(
                update(users)
                .where(users.c.id == user.id, users.c.failed_logins >= max_failures(), _not_locked(now))
                .values(failed_logins=0, locked_until=until)
            ),
        ).rowcount
        locked_until = until if locked else None
    db.session.expire(user, ["failed_logins", "locked_until"])
    return count is not None, locked_until


def _clear_failures(user: User, now: datetime) -> bool:
    """After a right answer: reset the count, unless a lock is in force (then False)."""
    users = cast(Table, User.__table__)
    cleared = cast(
        CursorResult[Any], db.session.execute(update(users).where(users.c.id == user.id, _not_locked(now)).values(failed_logins=0, locked_until=None))
    ).rowcount
    db.session.expire(user, ["failed_logins", "locked_until"])
    return bool(cleared)


def _lock_end(user: User) -> datetime | None:
    return db.session.scalar(select(User.locked_until).where(User.id == user.id))


def _login_failed(user_id: int | None, typed_email: str, reason: str) -> None:
    record_event(db.session, "login_failed", object_type="users", object_id=user_id, new=email_for_the_record(typed_email), reason=reason)


def _check_failed(user: User, purpose: str, what: str) -> None:
    record_event(db.session, "password_check_failed", object_type="users", object_id=user.id, new=what, reason=purpose, user=user)


def _locked(user: User, until: datetime, now: datetime, reason: str) -> None:
    """Audit a new lock and queue the owner's email about it."""
    record_event(db.session, "account_locked", object_type="users", object_id=user.id, new=until, reason=reason)
    context = {"user": user, "at": now, "until": until, "limit": max_failures(), "base": _base_url(), "minutes": int(lock_duration().total_seconds() // 60)}
    subject = f"eCRF: your account is locked until {until.strftime('%Y-%m-%d %H:%M')} UTC"
    queue_keyed(
        f"account_locked:{user.id}:{now.isoformat()}",
        "account_locked",
        user,
        now.date(),
        subject,
        render_template("email/account_locked.txt", **context),
        render_template("email/account_locked.html", **context),
        now,
    )


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not a password of anyone")


def _spend_a_hash(password: str) -> None:
    hasher = password_hasher()
    with contextlib.suppress(Exception):
        hasher.verify(_dummy_hash(hasher), password)


def _base_url() -> str:
    return current_app.config["ECRF_BASE_URL"].rstrip("/")


# -- choosing a new password ---------------------------------------------------------------------------------


def _new_password_problems(user: User, password: str, label: str) -> list[tuple[str | None, str]]:
    problems = password_problems(password, user.email, label=label)
    if not problems and user.check_password(password):
        problems.append(f"{label}: must differ from the current password.")
    return [("new_password", message) for message in problems]


def change_password(user: User, new_password: str) -> None:
    """The user chose a new password (their identity already confirmed): the policy applies; every session of
    theirs ends (the caller starts a fresh one for this browser). Flushes, never commits."""
    problems = _new_password_problems(user, new_password, "New password")
    if problems:
        raise InvalidInput(problems)
    user.set_password(new_password)
    user.must_change_password = False
    end_sessions(user.id, PASSWORD_CHANGED)
    record_event(db.session, "password_changed", object_type="users", object_id=user.id, user=user)
    db.session.flush()


def request_password_reset(email: str) -> None:
    """Someone asked for a reset link for `email`: for an active account, a single-use link by email (at most one
    per account every few minutes); otherwise nothing is sent. Audited either way. Flushes, never commits."""
    now, typed = now_utc(), normalise_email(email)
    user = user_by_email(typed) if is_email_address(typed) else None

    def audit(reason: str) -> None:
        record_event(
            db.session, "password_reset_requested", object_type="users", object_id=user.id if user else None, new=email_for_the_record(typed), reason=reason
        )

    if user is None or not user.active:
        audit(NO_ACCOUNT if user is None else DISABLED)
        return
    last = db.session.scalar(select(func.max(PasswordReset.created_at)).where(PasswordReset.user_id == user.id))
    if last is not None and last > now - RESET_EMAIL_EVERY:
        audit(f"not sent: a link was sent at {last.strftime('%H:%M:%S')} UTC (one per {int(RESET_EMAIL_EVERY.total_seconds() // 60)} minutes)")
        return
    token = secrets.token_urlsafe(32)
    reset = PasswordReset(user_id=user.id, token_sha256=token_digest(token), created_at=now, expires_at=now + RESET_LINK_VALID)
    db.session.add(reset)
    db.session.flush()
    context = {
        "user": user,
        "link": _base_url() + RESET_PATH.format(token=token),
        "expires_at": reset.expires_at,
        "minutes": int(RESET_LINK_VALID.total_seconds() // 60),
        "base": _base_url(),
    }
    queue_keyed(
        f"password_reset:{reset.id}",
        "password_reset",
        user,
        now.date(),
        "eCRF: choose a new password",
        render_template("email/password_reset.txt", **context),
        render_template("email/password_reset.html", **context),
        now,
    )
    audit("link sent")


def usable_reset(token: str) -> PasswordReset:
    """The reset link's row if the link can still be used; else ResetLinkUnusable saying why."""
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_sha256 == token_digest(token))) if len(token) <= 100 else None
    user = db.session.get(User, reset.user_id) if reset is not None else None
    if reset is None or user is None or not user.active:
        raise ResetLinkUnusable("This link is not valid: check that the whole link was copied from the email, or ask for a new one below.")
    if reset.used_at is not None:
        raise ResetLinkUnusable("This link has already been used: each link works once. If you need to choose a password again, ask for a new link below.")
    if reset.expires_at <= now_utc():
        raise ResetLinkUnusable(
            f"This link expired at {reset.expires_at.strftime('%Y-%m-%d %H:%M')} UTC: links work "
            f"for {int(RESET_LINK_VALID.total_seconds() // 60)} minutes. Ask for a new one below."
        )
    return reset


def complete_password_reset(token: str, new_password: str) -> User:
    """Set a new password through a reset link: used once (a conditional UPDATE, so two posts cannot both use it);
    every session of the user ends and the lockout is cleared. Flushes, never commits."""
    reset = usable_reset(token)
    user = db.session.get(User, reset.user_id)
    assert user is not None  # usable_reset found the link's user
    problems = _new_password_problems(user, new_password, "New password")
    if problems:
        raise InvalidInput(problems)
    now = now_utc()
    claimed = cast(
        CursorResult[Any],
        db.session.execute(
            update(PasswordReset)
            .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None), PasswordReset.expires_at > now)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if not claimed:
        raise ResetLinkUnusable("This link has just been used: each link works once. If you need to choose a password again, ask for a new link below.")
    # Any other link still out for this account stops working too: the password they were asked for is chosen.
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    set_actor(db.session, user)  # the owner, who proved they hold the mailbox
    user.set_password(new_password)
    user.must_change_password = False
    user.failed_logins, user.locked_until = 0, None
    end_sessions(user.id, PASSWORD_RESET)
    record_event(db.session, "password_reset", object_type="users", object_id=user.id, user=user, reason="link from email")
    db.session.flush()
    return user
