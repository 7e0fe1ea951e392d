"""Alerts raised by the system for the staff of a study (shown on their worklist)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.auth.models import Role
from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.studies.models import Site, Study


class Alert(Model):
    """Something a role must act on, e.g. an exhausted randomization list."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: e.g. "randomization_list_exhausted".
    kind: Mapped[str] = mapped_column(String(50))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    #: The role that must act (data_manager ...).
    role: Mapped[str] = mapped_column(String(20), default=Role.DATA_MANAGER.value)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    study: Mapped[Study] = relationship()
    site: Mapped[Site | None] = relationship()
