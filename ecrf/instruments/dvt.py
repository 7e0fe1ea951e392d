"""DEFIANCE DVT instruments: typed tables, and days from symptom onset to day 0."""

from __future__ import annotations

from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

LEGS = [("right", "Right"), ("left", "Left")]

ANTICOAGULANTS = [
    ("apixaban", "Apixaban"),
    ("rivaroxaban", "Rivaroxaban"),
    ("dabigatran", "Dabigatran"),
    ("edoxaban", "Edoxaban"),
    ("warfarin", "Warfarin"),
    ("lmwh", "Low-molecular-weight heparin"),
    ("ufh", "Unfractionated heparin"),
    ("other", "Other"),
]


PROCEDURE_DVT_ITEMS = items(
    Item("affected_leg", "Affected leg", Kind.CHOICE, codes=LEGS),
    #: Venous segments with thrombus (tick all that apply), central to distal.
    Item(
        "thrombus_ivc",
        "Thrombus: inferior vena cava",
        Kind.TICK,
        description="Tick all that apply; at least one of common iliac, external iliac or common femoral. Thrombus extending more than 2 cm into the IVC excludes the subject",
    ),
    Item("thrombus_common_iliac", "Thrombus: common iliac vein", Kind.TICK),
    Item("thrombus_external_iliac", "Thrombus: external iliac vein", Kind.TICK),
    Item("thrombus_common_femoral", "Thrombus: common femoral vein", Kind.TICK),
    #: The femoral vein (formerly "superficial femoral vein").
    Item("thrombus_femoral", "Thrombus: femoral vein", Kind.TICK),
    Item("thrombus_popliteal", "Thrombus: popliteal vein", Kind.TICK),
    Item("thrombus_calf", "Thrombus: calf veins", Kind.TICK),
    Item("symptom_onset_date", "Symptom onset date", Kind.DATE),
    #: apixaban / rivaroxaban / dabigatran / edoxaban / warfarin / lmwh / ufh / other (then anticoagulant_other).
    Item("anticoagulant", "Anticoagulant at baseline", Kind.CHOICE, codes=ANTICOAGULANTS, length=12),
    Item("anticoagulant_other", "Anticoagulant: specify other", Kind.TEXT, max_length=100, required=False),
    Item("anticoagulant_start_date", "Anticoagulant start date", Kind.DATE),
    #: ClotTriever thrombectomy, as performed (not checked against the randomized arm).
    Item("thrombectomy_performed", "ClotTriever thrombectomy performed", Kind.YES_NO),
    Item("thrombectomy_date", "Thrombectomy date", Kind.DATE, required=False),
    #: Computed: days from symptom onset to day 0 (the eligibility value symptom_onset_days).
    Item("symptom_onset_days", "Days from symptom onset to day 0", Kind.INTEGER, derived_from=("symptom_onset_date",)),
)


class ProcedureDvtData(CrfData):
    __tablename__ = "procedure_dvt_data"

    __items__ = PROCEDURE_DVT_ITEMS


ANTICOAGULATION_ITEMS = items(
    Item("anticoagulated", "Currently anticoagulated", Kind.YES_NO),
    #: Same codes as procedure_dvt_data.anticoagulant; agent_other says which when "other".
    Item("agent", "Anticoagulant", Kind.CHOICE, codes=ANTICOAGULANTS, required=False, length=12),
    Item("agent_other", "Anticoagulant: specify other", Kind.TEXT, max_length=100, required=False),
    #: Follow-up visits only (empty at baseline): anticoagulation changed since the last visit, and why.
    Item(
        "changed",
        "Anticoagulation changed since the last visit",
        Kind.YES_NO,
        required=False,
        description="Started, stopped, switched to another agent or dose changed; not asked at baseline",
    ),
    Item("change_reason", "Reason for the change", Kind.TEXT, max_length=200, required=False),
    #: Follow-up visits only (empty at baseline): any bleeding since the last visit.
    Item(
        "bleeding",
        "Bleeding since the last visit",
        Kind.YES_NO,
        required=False,
        description="Any bleeding, also to be recorded as an adverse event; not asked at baseline",
    ),
)


class AnticoagulationData(CrfData):
    __tablename__ = "anticoagulation_data"

    __items__ = ANTICOAGULATION_ITEMS


def compute_procedure(data: ProcedureDvtData, context: FormContext) -> None:
    """Days from symptom onset to day 0."""
    data.symptom_onset_days = None if data.symptom_onset_date is None else (context.index_date - data.symptom_onset_date).days


def procedure_results(data: ProcedureDvtData) -> list[tuple[str, str]]:
    """Days from symptom onset to day 0."""
    if data.symptom_onset_days is None:
        return [("Symptom onset to day 0", "not computable until the onset date is entered")]
    return [("Symptom onset to day 0", f"{data.symptom_onset_days} days")]


INSTRUMENTS = [
    Instrument("procedure_dvt", ProcedureDvtData, compute=compute_procedure, results=procedure_results),
    Instrument("anticoagulation", AnticoagulationData),
]
