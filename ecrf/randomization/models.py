"""The concealed randomization list: one row per slot, in order within its stratum."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.studies.models import Arm


class RandomizationSlot(Model):
    """One position of a stratum's list: its arm, and the subject once allocated."""

    __tablename__ = "randomization_slots"
    __table_args__ = (
        UniqueConstraint("study_id", "stratum", "sequence"),
        Index("ix_randomization_slots_free", "study_id", "stratum", "subject_id", "sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    #: Site code, then any stratification factor levels: "SH01" or "SH01/diabetes=yes".
    stratum: Mapped[str] = mapped_column(String(100))
    #: 1, 2, 3 ... within the stratum: slots are taken in this order.
    sequence: Mapped[int]
    #: Permuted block number within the stratum, and that block's size.
    block: Mapped[int]
    block_size: Mapped[int]
    arm_id: Mapped[int] = mapped_column(ForeignKey("arms.id"))
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), unique=True)
    allocated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    allocated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Where the list came from: "generated (seed 42)" or "imported from <file name>".
    source: Mapped[str] = mapped_column(String(200))

    arm: Mapped[Arm] = relationship()
