"""A subject's scheduled visits, created at enrolment from the protocol."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Date, ForeignKey, Index, Text, UniqueConstraint, and_, not_
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.extensions import Model
from ecrf.studies.models import VisitDefinition
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.windows import WindowStatus, window_status


def left_follow_up_before(status: SubjectStatus, status_date: date | None, window_end: date) -> bool:
    """Whether a subject with this status left follow-up before a visit whose window ends on `window_end` fell due
    (the visit is then not applicable); for readers of plain rows, such as the exports."""
    return status.ends_follow_up and status_date is not None and window_end >= status_date


class Visit(Model):
    """One scheduled visit of one subject, with its window fixed at enrolment."""

    __tablename__ = "visits"
    __table_args__ = (
        UniqueConstraint("subject_id", "definition_id"),
        # Pending visits (no date yet) by window end and by window start: the worklist's lookups.
        Index("ix_visits_pending_by_end", "visit_date", "window_end"),
        Index("ix_visits_pending_by_start", "visit_date", "window_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("visit_definitions.id"))
    target_date: Mapped[date] = mapped_column(Date)
    #: First and last day of the window, inclusive, on the site's calendar.
    window_start: Mapped[date] = mapped_column(Date)
    window_end: Mapped[date] = mapped_column(Date)
    #: Date the visit took place, on the site's calendar.
    visit_date: Mapped[date | None] = mapped_column(Date)
    missed: Mapped[bool] = mapped_column(default=False)
    missed_reason: Mapped[str | None] = mapped_column(Text)

    subject: Mapped[Subject] = relationship(back_populates="visits")
    definition: Mapped[VisitDefinition] = relationship()

    def may_be_marked_missed(self, today: date) -> bool:
        """No date recorded, not already missed, and its window has opened (on the site's calendar `today`)."""
        return self.visit_date is None and not self.missed and today >= self.window_start

    @property
    def not_applicable(self) -> bool:
        """The subject left follow-up before this visit fell due."""
        return left_follow_up_before(self.subject.status, self.subject.status_date, self.window_end)

    @classmethod
    def pending_clause(cls) -> ColumnElement[bool]:
        """SQL: the visit still awaits an answer (no date, not missed, still applicable); needs a join to Subject."""
        left_follow_up = and_(
            Subject.status.in_([s for s in SubjectStatus if s.ends_follow_up]),
            Subject.status_date <= cls.window_end,
        )
        return and_(cls.visit_date.is_(None), cls.missed.is_(False), not_(left_follow_up))

    @property
    def window_text(self) -> str:
        """The window as messages show it: "2027-02-25 to 2027-03-16"."""
        return f"{self.window_start.isoformat()} to {self.window_end.isoformat()}"

    def in_window(self, day: date) -> bool:
        """Whether `day` falls in the visit's window (both ends included)."""
        return self.window_start <= day <= self.window_end

    def status(self, today: date) -> WindowStatus:
        """Window status on the site-local date `today` (decided by `window_status`)."""
        return window_status(
            self.window_start,
            self.window_end,
            today=today,
            visit_date=self.visit_date,
            missed=self.missed,
            not_applicable=self.not_applicable,
        )

    def __repr__(self) -> str:
        return f"<Visit {self.subject_id}:{self.definition_id}>"
