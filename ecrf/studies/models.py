"""Studies, their loaded protocol versions, arms and visit definitions (synced from the loaded protocol), and sites."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model


class Study(Model):
    """A study run by the system; its rules are its loaded protocol version (from the protocol file of the same code)."""

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    short_title: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(400))
    registry_id: Mapped[str | None] = mapped_column(String(40))
    #: chosen / randomized / single_arm, from the protocol file.
    allocation: Mapped[str] = mapped_column(String(20))
    subject_prefix: Mapped[str] = mapped_column(String(6))
    target_enrolment: Mapped[int]
    #: SHA-256 of the protocol version in force: the `ProtocolVersion` of this study with this digest.
    protocol_sha256: Mapped[str] = mapped_column(String(64))

    arms: Mapped[list[Arm]] = relationship(back_populates="study", order_by="Arm.position")
    visit_definitions: Mapped[list[VisitDefinition]] = relationship(back_populates="study", order_by="VisitDefinition.position")
    study_sites: Mapped[list[StudySite]] = relationship(back_populates="study")

    def __repr__(self) -> str:
        return f"<Study {self.code}>"


class ProtocolVersion(Model):
    """A study's protocol as it was loaded (`flask ecrf load-protocols`): the validated content and its digest.

    Rows are only added, never changed: the study's `protocol_sha256` names the version in force, and the
    audit trail of `studies` says when each one came into force, so it can be told which version a
    subject's data were collected under. Loading a file whose content was loaded before reuses its row.
    """

    __tablename__ = "protocol_versions"
    __table_args__ = (UniqueConstraint("study_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    #: SHA-256 of `document`.
    sha256: Mapped[str] = mapped_column(String(64))
    #: The validated protocol as canonical JSON (pydantic's dump of the file): what the app runs.
    document: Mapped[str] = mapped_column(Text)
    #: Name of the protocol file it was loaded from, e.g. defier.yaml.
    file_name: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    def __repr__(self) -> str:
        return f"<ProtocolVersion {self.study_id}:{self.sha256[:12]}>"


class Arm(Model):
    """A treatment arm or cohort of a study."""

    __tablename__ = "arms"
    __table_args__ = (UniqueConstraint("study_id", "code"), {"sqlite_autoincrement": True})  # deleted when unused: ids never reused

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    position: Mapped[int]

    study: Mapped[Study] = relationship(back_populates="arms")


class VisitDefinition(Model):
    """A scheduled visit of a study: day `target_day` after the index, window -days_before/+days_after."""

    __tablename__ = "visit_definitions"
    __table_args__ = (UniqueConstraint("study_id", "code"), {"sqlite_autoincrement": True})  # deleted when unused: ids never reused

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    code: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(200))
    #: Order of the visit in the schedule (0 = first).
    position: Mapped[int]
    target_day: Mapped[int]
    days_before: Mapped[int]
    days_after: Mapped[int]

    study: Mapped[Study] = relationship(back_populates="visit_definitions")


class Site(Model):
    """A hospital taking part in one or more studies."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: IANA time zone, e.g. Asia/Shanghai: the site's calendar decides visit dates and windows.
    timezone: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    #: The nightly pass for the site runs once its local time reaches this hour (0-23).
    morning_hour: Mapped[int] = mapped_column(default=6, server_default="6")

    study_sites: Mapped[list[StudySite]] = relationship(back_populates="site")

    def __repr__(self) -> str:
        return f"<Site {self.code}>"


class StudySite(Model):
    """A site's participation in a study."""

    __tablename__ = "study_sites"
    __table_args__ = (UniqueConstraint("study_id", "site_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    #: Last number used in this site's study subject IDs (e.g. 7 in DEF-SH01-0007).
    last_subject_number: Mapped[int] = mapped_column(default=0)
    #: Last number used in this site's screening numbers (e.g. 3 in SCR-DEF-SH01-0003).
    last_screening_number: Mapped[int] = mapped_column(default=0, server_default="0")

    study: Mapped[Study] = relationship(back_populates="study_sites")
    site: Mapped[Site] = relationship(back_populates="study_sites")
