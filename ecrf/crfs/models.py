"""A form entry: the header every instrument's typed data hangs from."""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import db
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit


class EntryStatus(str, Enum):
    """Where a form entry is in its lifecycle."""

    DRAFT = "draft"
    COMPLETE = "complete"


class MissingCode(str, Enum):
    """Why a field has no value."""

    NOT_DONE = "not_done"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not_applicable"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


def _enum(enum_class):
    return SAEnum(enum_class, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])


class CrfEntry(db.Model):
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
    status: Mapped[EntryStatus] = mapped_column(_enum(EntryStatus), default=EntryStatus.DRAFT)
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

    __mapper_args__ = {"version_id_col": version}

    def __repr__(self) -> str:
        return f"<CrfEntry {self.instrument}#{self.sequence} visit={self.visit_id}>"


class CrfData(db.Model):
    """Base of the typed data tables: one row per entry, keyed by the entry's id."""

    __abstract__ = True

    @declared_attr
    def entry_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(ForeignKey("crf_entries.id"), primary_key=True)

    @declared_attr
    def entry(cls) -> Mapped[CrfEntry]:  # noqa: N805
        return relationship(CrfEntry)
