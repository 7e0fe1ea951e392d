"""Users and their memberships (user x study x site x role)."""
from __future__ import annotations

from datetime import datetime
from enum import Enum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import db

_hasher = PasswordHasher()


class Role(str, Enum):
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


class User(UserMixin, db.Model):
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

    memberships: Mapped[list[Membership]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login: a disabled account cannot log in
        return self.active

    def set_password(self, password: str) -> None:
        """Store an argon2id hash of `password`."""
        self.password_hash = _hasher.hash(password)

    def check_password(self, password: str) -> bool:
        """Whether `password` matches the stored hash."""
        try:
            return _hasher.verify(self.password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class Membership(db.Model):
    """A role held by a user in one study at one site."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "study_id", "site_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    role: Mapped[Role] = mapped_column(SAEnum(Role, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]))

    user: Mapped[User] = relationship(back_populates="memberships")
    study: Mapped["Study"] = relationship()  # noqa: F821
    site: Mapped["Site"] = relationship()  # noqa: F821
