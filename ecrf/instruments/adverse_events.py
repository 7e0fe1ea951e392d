"""Adverse events: typed table, with the SAE report deadline and whether the report was late."""

from __future__ import annotations

from datetime import datetime, timedelta

from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData, MissingCode
from ecrf.crfs.registry import Instrument

SEVERITY = [("mild", "Mild"), ("moderate", "Moderate"), ("severe", "Severe")]

# Disagreement (clinical.md §7.3): several causality scales are in use. We use the MDCG 2020-10/1
# 4-level scale (EU MDR clinical investigations), which also asks for device and procedure apart;
# not the 5-level vigilance scale, the SHOCKWAVE-style 4 levels, or the CDASH demo's AEREL codes.
RELATIONSHIP = [("not_related", "Not related"), ("possible", "Possible"), ("probable", "Probable"), ("causal", "Causal relationship")]

MDCG_SCALE = (
    "MDCG 2020-10/1: possible = a weak relation that cannot be ruled out; probable = a relevant relation "
    "not reasonably explained by another cause; causal relationship = beyond reasonable doubt. If unsure, choose possible."
)

#: CDISC OUT codelist (C66768), in project codes: RECOVERED/RESOLVED, RECOVERING/RESOLVING, NOT RECOVERED/NOT
#: RESOLVED, RECOVERED/RESOLVED WITH SEQUELAE, FATAL, UNKNOWN.
OUTCOMES = [
    ("recovered", "Recovered/resolved"),
    ("recovering", "Recovering/resolving"),
    ("not_recovered", "Not recovered/not resolved"),
    ("recovered_with_sequelae", "Recovered/resolved with sequelae"),
    ("fatal", "Fatal"),
    ("unknown", "Unknown"),
]

ACTIONS = [
    ("none", "None"),
    ("device_removed", "Device removed"),
    ("procedure", "Procedure or surgery"),
    ("medication", "Medication"),
    ("hospitalisation", "Hospitalisation"),
    ("other", "Other"),
]

CRITERION = "Seriousness criterion: tick all that apply."


#: The seriousness criteria (device-trial list), paper order, with the CDASH flag each maps to.
CRITERIA = (
    "sae_death",  # AESDTH
    "sae_life_threatening",  # AESLIFE
    "sae_hospitalisation",  # AESHOSP
    "sae_disability",  # AESDISAB
    "sae_congenital_anomaly",  # AESCONG
    "sae_intervention",  # device definition (ISO 14155 / MDR): intervention to prevent permanent impairment
    "sae_medically_important",  # AESMIE
)


ITEMS = items(
    #: Verbatim term (CDASH AETERM); coding (MedDRA) is not done in the eCRF.
    Item(
        "ae_term",
        "Adverse event term",
        Kind.TEXT,
        max_length=200,
        description="Verbatim, as the investigator words it; the diagnosis rather than its symptoms where known.",
    ),
    #: Partial dates: "YYYY-MM-DD", "YYYY-MM" (day unknown) or "YYYY" (day and month unknown), as SDTM --DTC.
    Item("onset_date", "Onset date", Kind.PARTIAL_DATE),
    Item("ongoing", "Ongoing", Kind.YES_NO),
    Item("end_date", "End date", Kind.PARTIAL_DATE, required=False),
    Item(
        "serious",
        "Serious",
        Kind.YES_NO,
        description="Serious = meets at least one criterion below (a regulatory outcome, not the intensity). If not yet known, code it unknown: the SAE report clock then runs as a precaution.",
        missing=(MissingCode.UNKNOWN,),
    ),
    #: Seriousness criteria (ticked only for a serious event); CDASH AESDTH, AESLIFE, AESHOSP, AESDISAB, AESCONG,
    #: the device criterion "intervention to prevent permanent impairment", AESMIE.
    Item("sae_death", "Resulted in death", Kind.TICK, description=CRITERION),
    Item("sae_life_threatening", "Life-threatening", Kind.TICK, description=CRITERION),
    Item("sae_hospitalisation", "In-patient hospitalisation or prolongation of hospitalisation", Kind.TICK, description=CRITERION),
    Item("sae_disability", "Persistent or significant disability/incapacity", Kind.TICK, description=CRITERION),
    Item("sae_congenital_anomaly", "Congenital anomaly/birth defect", Kind.TICK, description=CRITERION),
    Item("sae_intervention", "Medical or surgical intervention to prevent permanent impairment", Kind.TICK, description=CRITERION),
    Item("sae_medically_important", "Medically important event", Kind.TICK, description=CRITERION),
    #: Intensity: mild / moderate / severe (not seriousness).
    Item(
        "severity",
        "Severity (intensity)",
        Kind.CHOICE,
        codes=SEVERITY,
        description="Severity is not seriousness: a severe event need not be serious, and a serious one need not be severe.",
        length=10,
    ),
    #: MDCG 2020-10/1: not_related / possible / probable / causal.
    Item("relation_device", "Relationship to the device", Kind.CHOICE, codes=RELATIONSHIP, description=MDCG_SCALE, length=12),
    Item("relation_procedure", "Relationship to the procedure", Kind.CHOICE, codes=RELATIONSHIP, description=MDCG_SCALE, length=12),
    Item(
        "relation_drug",
        "Relationship to the drug",
        Kind.CHOICE,
        codes=RELATIONSHIP,
        description=(
            "The drug of a drug-coated or drug-eluting device, or the study drug; where there is none, use the missing code not applicable. " + MDCG_SCALE
        ),
        length=12,
    ),
    #: CDISC OUT: recovered / recovering / not_recovered / recovered_with_sequelae / fatal / unknown.
    Item("outcome", "Outcome", Kind.CHOICE, codes=OUTCOMES, length=25),
    #: none / device_removed / procedure / medication / hospitalisation / other (then action_other says what).
    Item("action_taken", "Action taken", Kind.CHOICE, codes=ACTIONS, description="The main action taken because of the event.", length=20),
    Item("action_other", "Other action taken", Kind.TEXT, max_length=200, required=False),
    #: When the site became aware of the event, and when it reported it to the sponsor (UTC).
    Item("aware_at", "Date and time the site became aware", Kind.DATETIME, description="Site local time."),
    Item(
        "reported_at",
        "Date and time reported to the sponsor",
        Kind.DATETIME,
        required=False,
        description="Site local time. Required for a serious event before completing; a draft may be saved without it.",
    ),
    #: Computed, serious events and those whose seriousness is coded unknown (a precaution): aware_at + the
    #: protocol's safety.sae_report_hours (UTC), and whether reported_at is after it (None until reported).
    Item("sae_report_due_at", "SAE report to the sponsor due", Kind.DATETIME, derived_from=("serious", "aware_at")),
    Item("reported_late", "SAE reported late", Kind.YES_NO, derived_from=("reported_at", "sae_report_due_at")),
)


def sae_report_due(serious: bool | None, aware_at: datetime | None, hours: int) -> datetime | None:
    """When the report to the sponsor is due: awareness + the protocol's hours, for a serious event (or one whose
    seriousness is unknown, passed here as serious) only."""
    return aware_at + timedelta(hours=hours) if serious and aware_at is not None else None


def reported_late(reported_at: datetime | None, due: datetime | None) -> bool | None:
    """Whether the report came after it was due; None while either is unknown."""
    return None if reported_at is None or due is None else reported_at > due


class AdverseEventData(CrfData):
    __tablename__ = "adverse_events_data"
    __items__ = ITEMS


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
    labels = [ITEMS.label(name).lower() for name in CRITERIA if getattr(data, name)]
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
    seriousness = (
        "unknown: the SAE report clock runs as a precaution until Serious is answered" if unknown else f"serious: {_criteria(data) or 'no criterion ticked'}"
    )
    return [("Seriousness", seriousness), ("SAE report to the sponsor due", due), ("SAE report", report)]


INSTRUMENTS = [Instrument("adverse_events", AdverseEventData, repeating=True, compute=compute, results=results, describe=describe)]
