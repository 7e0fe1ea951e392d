"""Peripheral target lesion, procedure and stent fracture x-ray: typed tables and computed values."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.peripheral import (
    TERRITORIES, LesionPeripheralForm, ProcedurePeripheralForm, StentFractureForm, parc_success, territory,
)


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


# -- target lesion --------------------------------------------------------------------------------

class LesionPeripheralData(CrfData):
    __tablename__ = "lesion_peripheral_data"

    side: Mapped[str | None] = mapped_column(String(5))
    #: Segment code (forms.peripheral.SEGMENTS): where the lesion narrows most.
    segment: Mapped[str | None] = mapped_column(String(20))
    lesion_length_mm: Mapped[int | None]
    occluded: Mapped[bool | None]
    #: Diameter stenosis, %; 100 for a total occlusion (the eligibility rules read this column's name).
    stenosis_pct: Mapped[int | None]
    #: none / focal / mild / moderate / severe (PARC).
    calcification: Mapped[str | None] = mapped_column(String(10))
    in_stent_restenosis: Mapped[bool | None]
    reference_diameter_mm: Mapped[Decimal | None] = mapped_column(Numeric(3, 1))
    #: Computed: femoropopliteal / below_knee, from the segment (LEG-DEB reports results by territory).
    territory: Mapped[str | None] = mapped_column(String(20))


def compute_lesion(data: LesionPeripheralData, context: FormContext) -> None:
    """Territory of the target segment."""
    data.territory = territory(data.segment)


def lesion_results(data: LesionPeripheralData) -> list[tuple[str, str]]:
    return [("Territory", TERRITORIES.get(data.territory or "", "not known until the segment is entered"))]


# -- procedure ----------------------------------------------------------------------------------------

class ProcedurePeripheralData(CrfData):
    __tablename__ = "procedure_peripheral_data"

    procedure_date: Mapped[date | None]
    #: "Tick all that apply" devices; nullable because a box may carry a missing-data code.
    device_predilatation: Mapped[bool | None]
    device_dcb: Mapped[bool | None]
    device_des: Mapped[bool | None]
    device_bms: Mapped[bool | None]
    device_atherectomy: Mapped[bool | None]
    device_other: Mapped[bool | None]
    device_other_specify: Mapped[str | None] = mapped_column(String(100))
    #: A stent placed for a suboptimal balloon result (bail-out), with its reason code.
    provisional_stent: Mapped[bool | None]
    provisional_stent_reason: Mapped[str | None] = mapped_column(String(30))
    provisional_stent_reason_other: Mapped[str | None] = mapped_column(String(100))
    residual_stenosis_pct: Mapped[int | None]
    #: Flow-limiting dissection remaining at the end of the procedure.
    flow_limiting_dissection: Mapped[bool | None]
    #: The investigator's judgement of technical success.
    technical_success: Mapped[bool | None]
    #: Computed: technical success by PARC (residual <= 30 % with a stent, <= 50 % without, no flow-limiting dissection).
    technical_success_parc: Mapped[bool | None]


def compute_procedure(data: ProcedurePeripheralData, context: FormContext) -> None:
    """PARC technical success from residual stenosis, stent and dissection."""
    data.technical_success_parc = parc_success(lambda name: getattr(data, name))


def procedure_results(data: ProcedurePeripheralData) -> list[tuple[str, str]]:
    parc = data.technical_success_parc
    return [
        ("Technical success (PARC)", _yes_no(parc) if parc is not None else "not computable until residual stenosis and dissection are entered"),
        ("Technical success (investigator)", _yes_no(data.technical_success)),
    ]


# -- stent fracture -----------------------------------------------------------------------------------

class StentFractureData(CrfData):
    __tablename__ = "stent_fracture_data"

    xray_date: Mapped[date | None]
    fracture: Mapped[bool | None]
    #: I-V (Jaff / Rocha-Singh), only when there is a fracture.
    fracture_type: Mapped[str | None] = mapped_column(String(3))


INSTRUMENTS = [
    Instrument("lesion_peripheral", LesionPeripheralForm, LesionPeripheralData, compute=compute_lesion, results=lesion_results),
    Instrument("procedure_peripheral", ProcedurePeripheralForm, ProcedurePeripheralData, compute=compute_procedure, results=procedure_results),
    Instrument("stent_fracture", StentFractureForm, StentFractureData),
]
