"""The screening log: every screened patient, by screening number (no names, no birth dates)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, ForeignKeyConstraint, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject


class ScreeningOutcome(StrEnum):
    """Where a screened patient stands."""

    IN_PROGRESS = "in_progress"  # some criteria cannot be judged yet
    ELIGIBLE = "eligible"  # every criterion met; consent and enrolment to come
    SCREEN_FAILURE = "screen_failure"
    DECLINED_CONSENT = "declined_consent"
    ENROLLED = "enrolled"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class ScreeningRecord(Model):
    """One patient screened for one study at one site."""

    __tablename__ = "screening_records"
    __table_args__ = (
        ForeignKeyConstraint(["study_id", "site_id"], ["study_sites.study_id", "study_sites.site_id"]),
        Index("ix_screening_records_study_site", "study_id", "site_id", "screening_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. SCR-DEF-SH01-0003: study prefix, site, number at the site.
    screening_number: Mapped[str] = mapped_column(String(32), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    screening_date: Mapped[date] = mapped_column(Date)
    #: The protocol's numeric screening values, {field: decimal as text}; a field left empty is absent.
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Criteria judged by the investigator, {criterion code: true/false}: inclusion met, exclusion present.
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Levels of the protocol's stratification factors, {factor code: level}.
    strata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outcome: Mapped[ScreeningOutcome]
    #: Codes of the criteria not met (inclusion) or met (exclusion), in protocol order.
    failed_criteria: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    study: Mapped[Study] = relationship()
    site: Mapped[Site] = relationship()
    subject: Mapped[Subject | None] = relationship()

    @property
    def enrollable(self) -> bool:
        """Eligible: the patient may be enrolled, or may decline consent."""
        return self.outcome is ScreeningOutcome.ELIGIBLE

    @property
    def declined(self) -> bool:
        """The patient declined consent (a decline can be reversed)."""
        return self.outcome is ScreeningOutcome.DECLINED_CONSENT

    @property
    def decided(self) -> bool:
        """Enrolled or declined: the screening values no longer change."""
        return self.subject is not None or self.declined
