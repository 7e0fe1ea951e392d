"""Protocol deviations recorded by the system (visit out of window, missed visit) or by the site."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit


class ProtocolDeviation(Model):
    """A departure from the protocol, with the site's reason."""

    __tablename__ = "protocol_deviations"
    __table_args__ = (Index("ix_protocol_deviations_study", "study_id", "site_id", "recorded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    #: visit_out_of_window / missed_visit
    kind: Mapped[str] = mapped_column(String(30))
    #: What happened, e.g. "visit on 2027-03-20, window 2027-02-25 to 2027-03-16".
    description: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    subject: Mapped[Subject] = relationship()
    visit: Mapped[Visit | None] = relationship()
