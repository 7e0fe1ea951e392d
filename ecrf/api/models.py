"""Personal access tokens for the API, and the answers kept for repeated POSTs (Idempotency-Key)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.auth.models import User
from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model


class TokenStatus(enum.StrEnum):
    """What a token's owner sees of it: working, past its date, or ended by hand (not stored: derived from the dates)."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"

    @property
    def css(self) -> str:
        """Bootstrap colour of this status's badge."""
        return {"active": "success", "expired": "secondary", "revoked": "danger"}[self.value]


class ApiToken(Model):
    """A personal access token: acts as its user (their memberships and roles, never more) until it expires or is
    revoked. Only a SHA-256 digest of the secret is stored; the secret is shown once, when the token is made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: The owner's name for it ("core lab upload"); the audit trail names every API write by it.
    name: Mapped[str] = mapped_column(String(80))
    #: The token's first characters, shown in lists so the owner can tell tokens apart (not secret on its own).
    prefix: Mapped[str] = mapped_column(String(16))
    #: SHA-256 (hex) of the whole token.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: Reads only: every write is refused (403).
    read_only: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last request made with it (to the minute; written outside the audit trail).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()

    @property
    def way_in(self) -> str:
        """How the audit trail names a request made with it (`via`): its name and first characters, which tell two
        tokens of one name apart (the account page lists both)."""
        return f"API token {self.name} ({self.prefix}…)"

    def usable(self, at: datetime) -> bool:
        """Whether the token may be used at `at`: not revoked, not expired, its user active."""
        return self.revoked_at is None and at < self.expires_at and self.user.active

    def status(self, at: datetime) -> TokenStatus:
        """Revoked, expired or active at `at` (what the owner's list shows)."""
        if self.revoked_at is not None:
            return TokenStatus.REVOKED
        return TokenStatus.EXPIRED if at >= self.expires_at else TokenStatus.ACTIVE


class IdempotentRequest(Model):
    """The answer given to a POST with an Idempotency-Key, replayed when the same token sends the same key again."""

    __tablename__ = "api_idempotent_requests"
    __table_args__ = (UniqueConstraint("token_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    key: Mapped[str] = mapped_column(String(200))
    #: Method and path, and a SHA-256 of the body: the same key with another request is refused (422).
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    #: The response body (JSON) and the headers worth replaying (ETag, Location), as JSON.
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
