"""A form entry: the header every instrument's typed data hangs from."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit


class EntryStatus(StrEnum):
    """Where a form entry is: draft -> complete -> locked. Source verification (by a monitor) and the
    investigator's signature are marks on a complete entry, in either order; locking needs both."""

    DRAFT = "draft"
    COMPLETE = "complete"
    LOCKED = "locked"

    @property
    def css(self) -> str:
        """Bootstrap colour of this status's badge."""
        return {"draft": "warning", "complete": "success", "locked": "dark"}[self.value]


class LifecycleError(Exception):
    """A form cannot move to the asked state from where it is."""


class MissingCode(StrEnum):
    """Why a field has no value."""

    NOT_DONE = "not_done"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class CrfEntry(Model):
    """One filled-in instrument for one visit (several per visit for repeating instruments such as AEs)."""

    __tablename__ = "crf_entries"
    __table_args__ = (
        UniqueConstraint("visit_id", "instrument", "sequence"),
        Index("ix_crf_entries_subject", "subject_id", "instrument"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    #: Instrument code, as in the protocol files (abi, villalta, adverse_events ...).
    instrument: Mapped[str] = mapped_column(String(40))
    #: 1 for single instruments; 1, 2, 3 ... for the entries of a repeating one at this visit.
    sequence: Mapped[int] = mapped_column(default=1)
    status: Mapped[EntryStatus] = mapped_column(default=EntryStatus.DRAFT)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Repeating instruments: the site confirmed there is nothing to report at this visit.
    none_reported: Mapped[bool] = mapped_column(default=False)
    #: Fields without a value and why: {field: {"code": "not_done" | "unknown" | "not_applicable", "reason": "..."}}.
    missing: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Codes of plausibility warnings the user confirmed (e.g. "abi_right_high").
    confirmed_warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Incremented on every save; a save based on an older version is refused.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    subject: Mapped[Subject] = relationship()
    visit: Mapped[Visit] = relationship()
    signatures: Mapped[list[Signature]] = relationship(back_populates="entry", order_by="Signature.id")

    __mapper_args__ = {"version_id_col": version}

    # -- lifecycle: each move checks where the entry is and refuses an illegal one -------------

    @property
    def valid_signatures(self) -> list[Signature]:
        return [signature for signature in self.signatures if signature.voided_at is None]

    @property
    def state(self) -> str:
        """What the entry's page says: draft, complete, source-verified, signed, verified and signed, locked."""
        if self.status is not EntryStatus.COMPLETE:
            return self.status.value
        marks = [mark for mark, on in (("source-verified", self.verified_at), ("signed", self.valid_signatures)) if on]
        return " and ".join(marks).replace("source-verified and signed", "verified and signed") or "complete"

    @property
    def awaits_verification(self) -> bool:
        """Complete and not yet source-verified: what `verify` accepts."""
        return self.status is EntryStatus.COMPLETE and self.verified_at is None

    @property
    def lockable(self) -> bool:
        """Complete, source-verified and signed: what `lock` accepts."""
        return self.status is EntryStatus.COMPLETE and self.verified_at is not None and bool(self.valid_signatures)

    @property
    def changes_need_reason(self) -> bool:
        """Complete: a change needs a reason, and drops the source verification and voids the signatures (`reopen`)."""
        return self.status is EntryStatus.COMPLETE

    @property
    def locked(self) -> bool:
        """Locked: what `unlock` accepts; nobody changes its data."""
        return self.status is EntryStatus.LOCKED

    def _require_complete(self, doing: str) -> None:
        if self.status is not EntryStatus.COMPLETE:
            raise LifecycleError(f"A {self.status.value} form cannot be {doing}; it must be complete.")

    def verify(self, by_id: int, at: datetime) -> None:
        """Source data verified by a monitor."""
        self._require_complete("source-verified")
        if self.verified_at is not None:
            raise LifecycleError("This form is already source-verified.")
        self.verified_at, self.verified_by_id = at, by_id

    def check_signable(self) -> None:
        """An investigator may sign a complete form not yet signed."""
        self._require_complete("signed")
        if self.valid_signatures:
            raise LifecycleError("This form is already signed.")

    def lock(self, by_id: int, at: datetime) -> None:
        """Locked by the data manager, once source-verified and signed."""
        self._require_complete("locked")
        if self.verified_at is None or not self.valid_signatures:
            raise LifecycleError("A form is locked only once it is source-verified and signed.")
        self.status, self.locked_at, self.locked_by_id = EntryStatus.LOCKED, at, by_id

    def unlock(self) -> None:
        """Unlocked by the data manager (with a reason, in the audit trail): complete, still verified and signed."""
        if self.status is not EntryStatus.LOCKED:
            raise LifecycleError("Only a locked form can be unlocked.")
        self.status, self.locked_at, self.locked_by_id = EntryStatus.COMPLETE, None, None

    def reopen(self, at: datetime, reason: str) -> None:
        """The data of a complete form changed: its verification is dropped and its signatures are void."""
        self._require_complete("changed")
        self.verified_at, self.verified_by_id = None, None
        for signature in self.valid_signatures:
            signature.voided_at, signature.void_reason = at, f"data changed: {reason}"


class CrfData(Model):
    """Base of the typed data tables: one row per entry, keyed by the entry's id."""

    __abstract__ = True
    #: The instrument's items (`ecrf.crfs.items.Items`): each is a nullable column of the same name.
    __items__: Any = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """One column per item, typed by its kind (before the declarative mapping reads the class)."""
        for item in vars(cls).get("__items__", ()):
            setattr(cls, item.name, mapped_column(item.column_type(), nullable=True))
        super().__init_subclass__(**kwargs)

    if TYPE_CHECKING:  # the item columns are made from `__items__`, where mypy cannot see them

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    @declared_attr
    def entry_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("crf_entries.id"), primary_key=True)

    @declared_attr
    def entry(cls) -> Mapped[CrfEntry]:
        return relationship(CrfEntry)


class Signature(Model):
    """An investigator's electronic signature of one entry (21 CFR 11.50): printed name, date-time,
    meaning, and a hash binding it to the exact data signed."""

    __tablename__ = "signatures"
    __table_args__ = (
        # One valid signature per entry: two signing requests at once cannot both sign (the database refuses the second).
        Index("ux_signatures_valid_per_entry", "entry_id", unique=True, sqlite_where=text("voided_at IS NULL"), postgresql_where=text("voided_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("crf_entries.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    #: What the signature means, e.g. "approved".
    meaning: Mapped[str] = mapped_column(String(100))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    #: SHA-256 of what was signed (see `ecrf.crfs.services.data_digest`).
    data_sha256: Mapped[str] = mapped_column(String(64))
    #: What the digest covers. 1: the entry's values and missing-data codes (signatures made before the visit date
    #: was covered: kept as they were made); 2: those and the visit's date and missed mark.
    digest_version: Mapped[int] = mapped_column(default=2, server_default="1")
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(300))

    entry: Mapped[CrfEntry] = relationship(back_populates="signatures")
