"""DEFIANCE DVT instruments: typed tables, and days from symptom onset to day 0."""
from __future__ import annotations

from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.dvt import AnticoagulationForm, ProcedureDvtForm


class ProcedureDvtData(CrfData):
    __tablename__ = "procedure_dvt_data"

    affected_leg: Mapped[str | None] = mapped_column(String(5))
    #: Venous segments with thrombus (tick all that apply), central to distal.
    thrombus_ivc: Mapped[bool | None]
    thrombus_common_iliac: Mapped[bool | None]
    thrombus_external_iliac: Mapped[bool | None]
    thrombus_common_femoral: Mapped[bool | None]
    #: The femoral vein (formerly "superficial femoral vein").
    thrombus_femoral: Mapped[bool | None]
    thrombus_popliteal: Mapped[bool | None]
    thrombus_calf: Mapped[bool | None]
    symptom_onset_date: Mapped[date | None]
    #: apixaban / rivaroxaban / dabigatran / edoxaban / warfarin / lmwh / ufh / other (then anticoagulant_other).
    anticoagulant: Mapped[str | None] = mapped_column(String(12))
    anticoagulant_other: Mapped[str | None] = mapped_column(String(100))
    anticoagulant_start_date: Mapped[date | None]
    #: ClotTriever thrombectomy, as performed (not checked against the randomized arm).
    thrombectomy_performed: Mapped[bool | None]
    thrombectomy_date: Mapped[date | None]
    #: Computed: days from symptom onset to day 0 (the eligibility value symptom_onset_days).
    symptom_onset_days: Mapped[int | None]


class AnticoagulationData(CrfData):
    __tablename__ = "anticoagulation_data"

    anticoagulated: Mapped[bool | None]
    #: Same codes as procedure_dvt_data.anticoagulant; agent_other says which when "other".
    agent: Mapped[str | None] = mapped_column(String(12))
    agent_other: Mapped[str | None] = mapped_column(String(100))
    #: Follow-up visits only (empty at baseline): anticoagulation changed since the last visit, and why.
    changed: Mapped[bool | None]
    change_reason: Mapped[str | None] = mapped_column(String(200))
    #: Follow-up visits only (empty at baseline): any bleeding since the last visit.
    bleeding: Mapped[bool | None]


def compute_procedure(data: ProcedureDvtData, context: FormContext) -> None:
    """Days from symptom onset to day 0."""
    data.symptom_onset_days = None if data.symptom_onset_date is None else (context.index_date - data.symptom_onset_date).days


def procedure_results(data: ProcedureDvtData) -> list[tuple[str, str]]:
    """Days from symptom onset to day 0."""
    if data.symptom_onset_days is None:
        return [("Symptom onset to day 0", "not computable until the onset date is entered")]
    return [("Symptom onset to day 0", f"{data.symptom_onset_days} days")]


INSTRUMENTS = [
    Instrument("procedure_dvt", ProcedureDvtForm, ProcedureDvtData, compute=compute_procedure, results=procedure_results),
    Instrument("anticoagulation", AnticoagulationForm, AnticoagulationData),
]
