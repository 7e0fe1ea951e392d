"""Personal access tokens: made (shown once), found by their digest, revoked; their use noted.

A token is `ecrf_` and 43 random URL-safe characters (256 bits): a secret that strong needs no slow hash, so the
database keeps its SHA-256 and finds it by that. A token acts as its user with that user's memberships and roles
at the time of each request, never more; a read-only token also may not write.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from ecrf.api.models import ApiToken
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import User
from ecrf.clock import now_utc
from ecrf.errors import InvalidInput
from ecrf.extensions import db

TOKEN_PREFIX = "ecrf_"
#: Longest a token may live, in days: a forgotten token stops working within a year.
MAX_DAYS = 365
#: What the account page offers (a quarter: long enough for a lab's routine, short enough to be renewed knowingly).
DEFAULT_DAYS = 90
NAME_LENGTH = 80
#: `last_used_at` is written at most this often per token (a list says "last used", not every request).
USE_RESOLUTION = timedelta(minutes=1)


def token_name(name: str) -> str:
    """A token's name as kept: runs of spaces (tabs, line breaks) made one space, none at either end."""
    return " ".join(name.split())


def digest(secret: str) -> str:
    """The SHA-256 (hex) under which a token is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user: User, name: str, days: int, *, read_only: bool = False) -> tuple[ApiToken, str]:
    """A new token of `user` named `name`, valid `days` days; returns it and its secret (shown once, never stored)."""
    name = token_name(name)
    problems: list[tuple[str | None, str]] = []
    if not name:
        problems.append(("name", "Name: give the token a name, e.g. what will use it."))
    elif len(name) > NAME_LENGTH:
        problems.append(("name", f"Name: at most {NAME_LENGTH} characters (you gave {len(name)})."))
    if not 1 <= days <= MAX_DAYS:
        problems.append(("days", f"Valid for (days): a whole number from 1 to {MAX_DAYS} (you gave {days})."))
    if not user.active:
        problems.append((None, f"{user.email} is disabled: a disabled account cannot have tokens."))
    if problems:
        raise InvalidInput(problems)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = now_utc()
    token = ApiToken(
        user=user,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_sha256=digest(secret),
        read_only=read_only,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def usable_token(secret: str, at: datetime | None = None) -> ApiToken | None:
    """The token with this secret if it may be used now (known, not revoked, not expired, its user active)."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest(secret)))
    return token if token is not None and token.usable(at or now_utc()) else None


def note_use(token: ApiToken, at: datetime | None = None) -> None:
    """Record that the token was used (at most once a minute; outside the audit trail: it is bookkeeping)."""
    at = at or now_utc()
    if token.last_used_at is not None and at - token.last_used_at < USE_RESOLUTION:
        return
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id, or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < at - USE_RESOLUTION))
        .values(last_used_at=at)
        .execution_options(synchronize_session=False)
    )


def revoke_token(token: ApiToken) -> None:
    """End the token for good (audited, as every change of a token is). Revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = now_utc()
        db.session.flush()


def tokens_of(user: User) -> list[ApiToken]:
    """The user's tokens, newest first (revoked and expired ones too: the list is their record)."""
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())))


def token_of(user: User, token_id: int) -> ApiToken | None:
    """The user's own token with this id; None for another user's token or none at all (the owner's pages say 404)."""
    return db.session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))


def tokens_named(user: User, name: str) -> list[ApiToken]:
    """The user's tokens not yet revoked whose name is `name` (spaces as `token_name` keeps them), oldest first."""
    wanted = token_name(name)
    return list(
        db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.name == wanted, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id))
    )


#: Rows of a token's history an account page shows at most.
HISTORY_LIMIT = 100


def token_history(user: User, limit: int = HISTORY_LIMIT) -> list[AuditEvent]:
    """The audit trail of the user's tokens (made, revoked), newest first; the digest appears only as "(set)"."""
    ids = [str(token_id) for token_id in db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == user.id))]
    if not ids:
        return []
    stmt = select(AuditEvent).where(AuditEvent.object_type == ApiToken.__tablename__, AuditEvent.object_id.in_(ids))
    return list(db.session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))
