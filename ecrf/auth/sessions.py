"""Server-side sessions: a logged-in browser holds a random token that the server can revoke.

Flask's session is a signed cookie kept by the browser, so on its own a copied cookie would keep
working after log-out. At log-in the Flask session is cleared (a new cookie and a new CSRF token)
and a `UserSession` row is written whose token (only its SHA-256 is stored) goes in the cookie;
the user loader accepts the cookie only while that row exists, belongs to the user, is not ended
and the account is active. Log-out, the idle timeout, a password change or reset, a one-time
password set by an admin, disabling the account and a lock from a failed password check end the
rows (with `end_reason`), and with them every copy of those cookies.

These helpers flush, never commit: the request that calls them commits.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, cast

from flask import g, session
from flask_login import login_user, logout_user
from sqlalchemy import CursorResult, select, update

from ecrf.auth.models import User, UserSession
from ecrf.clock import now_utc
from ecrf.extensions import db

#: Flask session key of the browser's session token.
SESSION_TOKEN = "session_token"
#: Flask session key holding the time (UTC, seconds since the epoch) of the user's last request.
LAST_SEEN = "last_seen"

#: `end_reason` values.
LOGOUT = "logout"
IDLE = "idle"
PASSWORD_CHANGED = "password changed"
PASSWORD_RESET = "password reset"
ONE_TIME_PASSWORD = "one-time password set"
ACCOUNT_DISABLED = "account disabled"
ACCOUNT_LOCKED = "account locked"


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def begin_session(user: User) -> None:
    """Log `user` in on this browser: a fresh Flask session (new cookie, new CSRF token) bound to a new session row."""
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF's per-request copy of the old token
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_sha256=token_digest(token), created_at=now_utc()))
    db.session.flush()
    login_user(user)
    session[SESSION_TOKEN] = token
    session[LAST_SEEN] = now_utc().timestamp()


def session_user(user_id: str, token: str | None) -> User | None:
    """The active user whose open session row holds `token` (one query), else None."""
    if not token or not user_id.isdigit():
        return None
    return db.session.scalar(
        select(User)
        .join(UserSession, UserSession.user_id == User.id)
        .where(
            User.id == int(user_id),
            User.active.is_(True),
            UserSession.token_sha256 == token_digest(token),
            UserSession.ended_at.is_(None),
        )
    )


def end_sessions(user_id: int, reason: str, *, token: str | None = None) -> int:
    """End the user's open sessions (only the one holding `token`, if given); returns how many ended. Flushes."""
    stmt = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if token is not None:
        stmt = stmt.where(UserSession.token_sha256 == token_digest(token))
    result = db.session.execute(stmt.values(ended_at=now_utc(), end_reason=reason).execution_options(synchronize_session=False))
    return cast(CursorResult[Any], result).rowcount


def end_session_by_token(token: str | None, reason: str) -> None:
    """End the open session holding `token`, whoever it belongs to (a cookie Flask refused for its age). Flushes."""
    if token:
        db.session.execute(
            update(UserSession)
            .where(UserSession.token_sha256 == token_digest(token), UserSession.ended_at.is_(None))
            .values(ended_at=now_utc(), end_reason=reason)
            .execution_options(synchronize_session=False)
        )


def end_current_session(reason: str) -> None:
    """End this browser's session on the server and log the user out (a fresh, empty Flask session follows).
    Flushes; the caller commits."""
    end_session_by_token(session.get(SESSION_TOKEN), reason)
    logout_user()
    session.clear()
    g.pop("csrf_token", None)
