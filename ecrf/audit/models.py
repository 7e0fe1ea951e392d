"""Audit events: who did what to which value, when (UTC) and why. Rows are never updated or deleted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Index, String, Text, cast, exists
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model


class AuditEvent(Model):
    """One audited fact. Plain ids, no foreign keys: the trail outlives and never blocks what it describes."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_id", "id"),
        Index("ix_audit_events_object", "object_type", "object_id", "field"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    user_id: Mapped[int | None]
    #: The user's email at the time (or "system" for commands and scheduled jobs).
    user_email: Mapped[str] = mapped_column(String(254))
    #: create / update / delete, or login / login_failed / export / sign ...
    action: Mapped[str] = mapped_column(String(30))
    #: Table of the object ("abi_data", "subjects" ...) and its primary key.
    object_type: Mapped[str] = mapped_column(String(60))
    object_id: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[int | None]
    field: Mapped[str | None] = mapped_column(String(80))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    #: The way in, where not the browser or a command: "API token <name> (<first characters>…)", "ODM import <file>".
    via: Mapped[str | None] = mapped_column(String(120))


def audited_since(model: Any, since: datetime) -> ColumnElement[bool]:
    """SQL (on `model`'s table): the row has an audit event about it (any change the trail files under the row's
    table and id) at or after `since`."""
    return exists().where(AuditEvent.object_type == model.__tablename__, AuditEvent.object_id == cast(model.id, String), AuditEvent.at >= since)
