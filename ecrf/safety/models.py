"""A flag: raised once per cause, resolved when the cause goes away, or decided by the investigator."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import ShortStrEnum, UTCDateTime
from ecrf.extensions import Model
from ecrf.subjects.models import Subject


class FlagStatus(ShortStrEnum):
    """Open until the cause goes away (resolved) or the investigator confirms or dismisses it."""

    OPEN = "open"
    CONFIRMED = "confirmed"  # a safety signal the investigator reported as an adverse event
    DISMISSED = "dismissed"  # with a reason
    RESOLVED = "resolved"  # the cause went away

    @property
    def css(self) -> str:
        """Bootstrap colour of this status's badge: an open flag stands out."""
        return "danger" if self is FlagStatus.OPEN else "secondary"


class Flag(Model):
    """Something that needs attention, about one subject."""

    __tablename__ = "flags"
    __table_args__ = (Index("ix_flags_open", "status", "study_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The cause, unique: e.g. "visit_overdue:812", "abi_drop:45" (kind and the row it comes from).
    key: Mapped[str] = mapped_column(String(80), unique=True)
    #: visit_overdue, sae_report_late, ae_not_updated, or a safety signal (abi_drop, villalta_severe ...).
    kind: Mapped[str] = mapped_column(String(40))
    #: A safety signal for the investigator to confirm or dismiss (not a reminder).
    safety: Mapped[bool] = mapped_column(default=False)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    #: The form entry the cause was found in, if any.
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("crf_entries.id"))
    #: What was found, in words for the worklist and the email ("ABI left fell 0.20 from baseline").
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[FlagStatus] = mapped_column(default=FlagStatus.OPEN)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    #: The adverse event entry opened when the investigator confirmed the signal.
    ae_entry_id: Mapped[int | None] = mapped_column(ForeignKey("crf_entries.id"))

    subject: Mapped[Subject] = relationship()

    @property
    def awaits_decision(self) -> bool:
        """An open safety signal: the investigator confirms or dismisses it (a reminder is never decided)."""
        return self.safety and self.status is FlagStatus.OPEN
