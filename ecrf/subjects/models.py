"""Study subjects: pseudonymous (a study subject ID, never a name or a birth date)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import Date, ForeignKey, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.studies.models import Arm, Site, Study

if TYPE_CHECKING:  # ecrf.visits.models imports this module
    from ecrf.visits.models import Visit


class SubjectStatus(StrEnum):
    """Where a subject stands in the study."""

    ACTIVE = "active"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"
    DIED = "died"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def ends_follow_up(self) -> bool:
        """Visits due after the status date no longer apply."""
        return self in (SubjectStatus.WITHDRAWN, SubjectStatus.LOST_TO_FOLLOW_UP, SubjectStatus.DIED)


class Subject(Model):
    """A subject enrolled in one study at one site."""

    __tablename__ = "subjects"
    __table_args__ = (
        ForeignKeyConstraint(["study_id", "site_id"], ["study_sites.study_id", "study_sites.site_id"]),
        Index("ix_subjects_study_site", "study_id", "site_id", "subject_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Study subject ID, <prefix>-<site>-<number>, e.g. DEF-SH01-0007.
    subject_code: Mapped[str] = mapped_column(String(32), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    #: Empty until a randomized subject is allocated.
    arm_id: Mapped[int | None] = mapped_column(ForeignKey("arms.id"))
    #: Day 0 of the schedule, on the site's calendar.
    index_date: Mapped[date] = mapped_column(Date)
    #: The index instant, where the protocol's index event has a time (e.g. randomization).
    index_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_date: Mapped[date] = mapped_column(Date)
    status: Mapped[SubjectStatus] = mapped_column(default=SubjectStatus.ACTIVE)
    #: Date the current status took effect (withdrawal, death ...); empty while active.
    status_date: Mapped[date | None] = mapped_column(Date)
    #: Why the subject left the study (withdrawal, loss to follow-up, death).
    status_reason: Mapped[str | None] = mapped_column(Text)
    #: When the subject was randomized (randomized studies only).
    randomized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    study: Mapped[Study] = relationship()
    site: Mapped[Site] = relationship()
    arm: Mapped[Arm | None] = relationship()
    visits: Mapped[list[Visit]] = relationship(back_populates="subject", order_by="Visit.target_date")

    @property
    def active(self) -> bool:
        """Still in follow-up: participation can still end (withdrawn, lost or died)."""
        return self.status is SubjectStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Subject {self.subject_code}>"
