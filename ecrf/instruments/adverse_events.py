"""Adverse events: typed table, with the SAE report deadline and whether the report was late."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData, MissingCode
from ecrf.crfs.registry import Instrument
from ecrf.db import UTCDateTime
from forms.adverse_events import CRITERIA, AdverseEventForm, reported_late, sae_report_due
from forms.base import FormContext


class AdverseEventData(CrfData):
    __tablename__ = "adverse_events_data"

    #: Verbatim term (CDASH AETERM); coding (MedDRA) is not done in the eCRF.
    ae_term: Mapped[str | None] = mapped_column(String(200))
    #: Partial dates: "YYYY-MM-DD", "YYYY-MM" (day unknown) or "YYYY" (day and month unknown), as SDTM --DTC.
    onset_date: Mapped[str | None] = mapped_column(String(10))
    ongoing: Mapped[bool | None]
    end_date: Mapped[str | None] = mapped_column(String(10))
    serious: Mapped[bool | None]
    #: Seriousness criteria (ticked only for a serious event); CDASH AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG,
    #: the device criterion "intervention to prevent permanent impairment", AESMIE.
    sae_death: Mapped[bool | None]
    sae_life_threatening: Mapped[bool | None]
    sae_hospitalisation: Mapped[bool | None]
    sae_disability: Mapped[bool | None]
    sae_congenital_anomaly: Mapped[bool | None]
    sae_intervention: Mapped[bool | None]
    sae_medically_important: Mapped[bool | None]
    #: Intensity: mild / moderate / severe (not seriousness).
    severity: Mapped[str | None] = mapped_column(String(10))
    #: MDCG 2020-10/1: not_related / possible / probable / causal.
    relation_device: Mapped[str | None] = mapped_column(String(12))
    relation_procedure: Mapped[str | None] = mapped_column(String(12))
    relation_drug: Mapped[str | None] = mapped_column(String(12))
    #: CDISC OUT: recovered / recovering / not_recovered / recovered_with_sequelae / fatal / unknown.
    outcome: Mapped[str | None] = mapped_column(String(25))
    #: none / device_removed / procedure / medication / hospitalisation / other (then action_other says what).
    action_taken: Mapped[str | None] = mapped_column(String(20))
    action_other: Mapped[str | None] = mapped_column(String(200))
    #: When the site became aware of the event, and when it reported it to the sponsor (UTC).
    aware_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Computed, serious events and those whose seriousness is coded unknown (a precaution): aware_at + the
    #: protocol's safety.sae_report_hours (UTC), and whether reported_at is after it (None until reported).
    sae_report_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reported_late: Mapped[bool | None]


def seriousness_unknown(data: AdverseEventData) -> bool:
    """Seriousness coded unknown (a missing-data code of the entry, set before computing)."""
    missing = (data.entry.missing if data.entry is not None else None) or {}
    return data.serious is None and (missing.get("serious") or {}).get("code") == MissingCode.UNKNOWN.value


def compute(data: AdverseEventData, context: FormContext) -> None:
    """The SAE report deadline and lateness, for serious events and, as a precaution, those of unknown
    seriousness; both empty otherwise."""
    clock = bool(data.serious) or seriousness_unknown(data)
    data.sae_report_due_at = sae_report_due(clock, data.aware_at, context.protocol.safety.sae_report_hours)
    data.reported_late = reported_late(data.reported_at, data.sae_report_due_at)


def _criteria(data: AdverseEventData) -> str:
    labels = [getattr(AdverseEventForm, name).args[0].lower() for name in CRITERIA if getattr(data, name)]
    return "; ".join(labels)


def describe(data: AdverseEventData) -> str:
    """One line for lists, e.g. "Groin haematoma — serious, onset 2026-01"."""
    seriousness = {True: "serious", False: "non-serious"}.get(data.serious, "seriousness unknown" if seriousness_unknown(data) else "seriousness not entered")
    onset = f"onset {data.onset_date}" if data.onset_date else "onset not entered"
    return f"{data.ae_term or 'Term not entered'} — {seriousness}, {onset}" + (", ongoing" if data.ongoing else "")


def results(data: AdverseEventData) -> list[tuple[str, str]]:
    """Seriousness with its criteria and, for a serious event, the report deadline (UTC) and whether it was met."""
    unknown = seriousness_unknown(data)
    if not data.serious and not unknown:
        return [("Seriousness", "not serious" if data.serious is False else "not entered")]
    due = f"{data.sae_report_due_at:%Y-%m-%d %H:%M} UTC" if data.sae_report_due_at else "when the time the site became aware is entered"
    report = {True: "late", False: "on time", None: "not yet reported" if data.reported_at is None else "—"}[data.reported_late]
    seriousness = ("unknown: the SAE report clock runs as a precaution until Serious is answered" if unknown
                   else f"serious: {_criteria(data) or 'no criterion ticked'}")
    return [("Seriousness", seriousness), ("SAE report to the sponsor due", due), ("SAE report", report)]


INSTRUMENTS = [Instrument("adverse_events", AdverseEventForm, AdverseEventData, repeating=True, compute=compute, results=results, describe=describe)]
