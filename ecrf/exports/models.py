"""Export jobs: an export asked for in the browser, run in the background, its file kept for a number of days."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.auth.models import User
from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.studies.models import Study


class JobStatus(StrEnum):
    """Where an export job is: queued -> running -> done or failed; a done job's file is deleted when it expires."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    EXPIRED = "expired"  # the file was deleted after ECRF_EXPORT_KEEP_DAYS

    @property
    def css(self) -> str:
        """Bootstrap colour of this status's badge."""
        return {"done": "success", "failed": "danger", "running": "info"}.get(self.value, "secondary")


class ExportJob(Model):
    """One export started in the browser. The state lives here, not in a process (the web app runs several
    workers and the scheduler is another process): whoever claims the queued row runs it."""

    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("ix_export_jobs_study_created", "study_id", "created_at"),
        Index("ix_export_jobs_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Who asked for it: the only user who may download the file.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    #: csv, stata, spss, sas, odm (the formats of `run_export`) or audit (the study's audit trail as CSV).
    format: Mapped[str] = mapped_column(String(10))
    #: ODM only: the current values without their audit history.
    snapshot: Mapped[bool] = mapped_column(default=False)
    #: The sites asked for, comma-separated (the scope is built again from them when the job runs).
    site_codes: Mapped[str] = mapped_column(Text)
    #: The scope in words ("DEFIER, sites HZ01, SH01"), as the audit trail has it.
    scope: Mapped[str] = mapped_column(Text)
    #: The audit trail export: the first and last day (UTC) of the events; empty: from the start / up to now.
    date_from: Mapped[date | None] = mapped_column(Date)
    date_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[JobStatus] = mapped_column(default=JobStatus.QUEUED)
    #: Rows written so far and rows expected (0 while not known).
    progress_done: Mapped[int] = mapped_column(default=0)
    progress_total: Mapped[int] = mapped_column(default=0)
    #: The finished file (absolute path, under ECRF_EXPORT_DIR).
    file_path: Mapped[str | None] = mapped_column(String(500))
    rows: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    #: Why a job failed, in one line.
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Last sign of life of a running job (progress); a running job silent for long was interrupted.
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the finished file is deleted (finished + ECRF_EXPORT_KEEP_DAYS).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
    study: Mapped[Study] = relationship()

    @property
    def sites(self) -> list[str]:
        """The site codes of the job's scope."""
        return [code for code in self.site_codes.split(",") if code]

    @property
    def in_progress(self) -> bool:
        """Queued or running: the page shows a progress bar."""
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def percent(self) -> int:
        """How far the job is, 0 to 100."""
        if self.status == JobStatus.DONE:
            return 100
        return min(100, 100 * self.progress_done // self.progress_total) if self.progress_total else 0

    @property
    def label(self) -> str:
        """The format as the page names it."""
        return FORMAT_LABELS.get(self.format + ("-snapshot" if self.snapshot else ""), self.format)


#: The choices of the exports page, by the value posted.
FORMAT_LABELS = {
    "csv": "CSV (zip, with data dictionary)",
    "stata": "Stata .dta (zip)",
    "spss": "SPSS .sav (zip)",
    "sas": "SAS transport .xpt (zip)",
    "odm": "CDISC ODM 1.3.2 with audit history",
    "odm-snapshot": "CDISC ODM 1.3.2 snapshot (current values)",
    "audit": "Audit trail (CSV)",
}
