"""The nightly pass's bookkeeping: one run per site-local date, the email outbox, the scheduler lease."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Date, Float, ForeignKey, Index, LargeBinary, String, Table, Text, Unicode, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.clock import now_utc
from ecrf.db import ShortStrEnum, UTCDateTime
from ecrf.extensions import Model, db


class NightlyRun(Model):
    """The nightly pass of one site for one site-local date: done once."""

    __tablename__ = "nightly_runs"
    __table_args__ = (UniqueConstraint("site_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    local_date: Mapped[date] = mapped_column(Date)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)


class OutboxStatus(ShortStrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(Model):
    """An email to send; its key makes a second one for the same recipient, kind and day impossible."""

    __tablename__ = "outbox_emails"
    __table_args__ = (Index("ix_outbox_emails_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: recipient user id, kind and the recipient's local date: "digest:12:2027-03-14".
    key: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recipient: Mapped[str] = mapped_column(String(254))
    local_date: Mapped[date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SchedulerLease(Model):
    """Who may run scheduled jobs now: one holder at a time, until the lease expires."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: APScheduler's job store table (SQLAlchemyJobStore's own schema), declared here so that the
#: migrations create it and `flask db check` knows it; the job store finds it and uses it.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    db.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)
