"""Users and their memberships (user x study x site x role)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model

if TYPE_CHECKING:  # for mypy only: the relationships below name them as strings, resolved by the registry
    from ecrf.studies.models import Site, Study


@cache
def _hasher_with(parameters: tuple[tuple[str, int], ...]) -> PasswordHasher:
    options: dict[str, Any] = dict(parameters)  # argon2's keyword arguments, whatever their types
    return PasswordHasher(**options)


def password_hasher() -> PasswordHasher:
    """The argon2id hasher with the app's parameters (`ECRF_ARGON2`; argon2-cffi's defaults, RFC 9106's
    low-memory profile, unless set). A stored hash carries its own parameters, so it verifies under any."""
    parameters = current_app.config.get("ECRF_ARGON2", {}) if has_app_context() else {}
    return _hasher_with(tuple(sorted(parameters.items())))


class Role(StrEnum):
    """What a user does in one study at one site."""

    COORDINATOR = "coordinator"
    INVESTIGATOR = "investigator"
    BLINDED_ASSESSOR = "blinded_assessor"
    MONITOR = "monitor"
    DATA_MANAGER = "data_manager"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class User(UserMixin, Model):
    """A person who logs in. Never a subject: subjects have no account and no name here."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    #: argon2id hash of the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    #: Failed log-ins in a row; the account locks for a while after too many.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The password was set by an admin (a one-time password): the owner must choose their own at the next
    #: log-in, so that nobody who created the account can sign as its owner.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled account cannot log in
        return self.active

    def set_password(self, password: str) -> None:
        """Store an argon2id hash of `password`."""
        self.password_hash = password_hasher().hash(password)

    def check_password(self, password: str) -> bool:
        """Whether `password` matches the stored hash."""
        try:
            return password_hasher().verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Membership(Model):
    """A role held by a user in one study at one site."""

    __tablename__ = "memberships"
    #: Memberships are deleted when a role is taken away: AUTOINCREMENT keeps SQLite from giving a later
    #: membership the id of a removed one, so each id's audit history belongs to one row.
    __table_args__ = (UniqueConstraint("user_id", "study_id", "site_id", "role"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    role: Mapped[Role]

    user: Mapped[User] = relationship(back_populates="memberships")
    study: Mapped[Study] = relationship()
    site: Mapped[Site] = relationship()


class UserSession(Model):
    """A logged-in browser session as the server knows it. The cookie holds a random token; ending the row
    here (log-out, password change, idle, lock) ends the session wherever a copy of that cookie is."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token in the session cookie (the token itself is never stored).
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why it ended: logout, idle, password changed, password reset, account locked ...
    end_reason: Mapped[str | None] = mapped_column(String(40))


class PasswordReset(Model):
    """An emailed link to choose a new password: single use, expiring."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the token in the link (the token itself is only in the email).
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
