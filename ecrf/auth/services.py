"""Authentication: passwords, failed log-ins and the lock that follows too many of them.

Every attempt writes an audit row: `login`, or `login_failed` with the email as typed
(normalised) in `new_value` and why in `reason`; the failure that locks an account adds
`account_locked`. The count of failures in a row lives on the user
(`failed_logins`, `locked_until`); a success resets it, and so does the lock itself
(after the lock ends, the account has the full number of tries again).

An email without an account is answered exactly like one with an account: wrong
credentials, then "locked" after the same number of failures in a row, for the same
time. Its failures are counted from the audit trail (there is no user row to hold
them), so the answer never tells whether an account exists.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.audit.trail import record_event, set_actor
from ecrf.auth.models import User, _hasher
from ecrf.clock import now_utc
from ecrf.extensions import db

#: `reason` of the audit rows of failed attempts.
WRONG_PASSWORD = "wrong password"
WHILE_LOCKED = "account locked"
DISABLED = "account disabled"
NO_ACCOUNT = "no account with this email"
#: The failure of an unknown email that is answered as "locked" (as an account would be).
NO_ACCOUNT_LOCKING = "no account with this email; answered as locked"
NO_ACCOUNT_WHILE_LOCKED = "no account with this email; answered as locked (lock in force)"

_dummy_hash: str | None = None


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of one log-in attempt: the user on success; `locked_until` when the account is locked."""

    user: User | None = None
    locked_until: datetime | None = None


def normalise_email(email: str) -> str:
    """Emails are compared and stored trimmed and in lower case."""
    return email.strip().lower()


def user_by_email(email: str, for_update: bool = False) -> User | None:
    """The user with this email (any case), or None; `for_update` locks the row (where the engine can)."""
    stmt = select(User).where(func.lower(User.email) == normalise_email(email))
    return db.session.scalar(stmt.with_for_update() if for_update else stmt)


def authenticate(email: str, password: str) -> LoginAttempt:
    """Check a log-in attempt, count failures, lock after too many in a row, and audit it. Flushes, never commits."""
    config = current_app.config
    limit, lock_for = config["ECRF_MAX_FAILED_LOGINS"], timedelta(minutes=config["ECRF_LOCKOUT_MINUTES"])
    now, email = now_utc(), normalise_email(email)
    user = user_by_email(email, for_update=True)  # concurrent attempts on one account count one after another
    if user is None:
        return _unknown_email(email, password, now, limit, lock_for)

    def failed(reason: str) -> None:
        record_event(db.session, "login_failed", object_type="users", object_id=user.id, new=email, reason=reason)

    if user.locked_until is not None and user.locked_until > now:
        failed(WHILE_LOCKED)
        return LoginAttempt(locked_until=user.locked_until)
    if not user.check_password(password):
        failed(WRONG_PASSWORD)
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= limit:
            user.failed_logins, user.locked_until = 0, now + lock_for
            record_event(db.session, "account_locked", object_type="users", object_id=user.id, new=user.locked_until,
                         reason=f"{limit} failed log-ins in a row")
            db.session.flush()
            return LoginAttempt(locked_until=user.locked_until)
        db.session.flush()
        return LoginAttempt()
    if not user.active:
        failed(DISABLED)
        return LoginAttempt()
    set_actor(db.session, user)
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins, user.locked_until = 0, None
    record_event(db.session, "login", object_type="users", object_id=user.id, user=user)
    db.session.flush()
    return LoginAttempt(user=user)


def _unknown_email(email: str, password: str, now: datetime, limit: int, lock_for: timedelta) -> LoginAttempt:
    """Answer an email without an account as an account would be answered, counting from the audit trail."""
    _spend_a_hash(password)  # as long as checking a real password: the time taken does not tell either
    rows = select(AuditEvent).where(
        AuditEvent.action == "login_failed", AuditEvent.object_type == "users",
        AuditEvent.object_id.is_(None), AuditEvent.new_value == email,
    )
    last_lock = db.session.scalars(rows.where(AuditEvent.reason == NO_ACCOUNT_LOCKING).order_by(AuditEvent.id.desc()).limit(1)).first()

    def failed(reason: str) -> None:
        record_event(db.session, "login_failed", object_type="users", object_id=None, new=email, reason=reason)

    if last_lock is not None and last_lock.at + lock_for > now:
        failed(NO_ACCOUNT_WHILE_LOCKED)
        return LoginAttempt(locked_until=last_lock.at + lock_for)
    since = last_lock.id if last_lock is not None else 0
    earlier = db.session.scalar(
        select(func.count()).select_from(rows.where(AuditEvent.id > since, AuditEvent.reason == NO_ACCOUNT).subquery())
    )
    if earlier + 1 >= limit:
        failed(NO_ACCOUNT_LOCKING)
        return LoginAttempt(locked_until=now + lock_for)
    failed(NO_ACCOUNT)
    return LoginAttempt()


def _spend_a_hash(password: str) -> None:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash("not a password of anyone")
    try:
        _hasher.verify(_dummy_hash, password)
    except Exception:  # noqa: BLE001  (a mismatch is the expected outcome)
        pass
