"""Peripheral target lesion, procedure and stent fracture x-ray: typed tables and computed values."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from ecrf.instruments.abi import SIDES

#: Arterial segments, proximal to distal (PARC anatomic levels, clinical.md §8.1; PARC Table 3). The list covers
#: the femoropopliteal and below-the-knee studies (DEFIER, LEG-DEB); common femoral, profunda and pedal arteries are
#: left out because no study treats them.
SEGMENTS = [
    ("sfa_proximal", "SFA, proximal third"),
    ("sfa_mid", "SFA, middle third"),
    ("sfa_distal", "SFA, distal third"),
    ("popliteal_p1", "Popliteal P1 (above the knee)"),
    ("popliteal_p2", "Popliteal P2 (knee joint)"),
    ("popliteal_p3", "Popliteal P3 (below the knee)"),
    ("tibioperoneal_trunk", "Tibioperoneal trunk"),
    ("anterior_tibial", "Anterior tibial"),
    ("posterior_tibial", "Posterior tibial"),
    ("peroneal", "Peroneal"),
]

#: PARC calcification grades (clinical.md §8.1 lists focal / mild / moderate / severe) plus "none". The issue asked for
#: none / mild / moderate / severe; "focal" is kept because PARC grades it, so PARC data map one to one.
CALCIFICATION = [
    ("none", "None"),
    ("focal", "Focal: < 180° and < half the lesion length"),
    ("mild", "Mild: < 180° and > half the lesion length"),
    ("moderate", "Moderate: ≥ 180° and < half the lesion length"),
    ("severe", "Severe: ≥ 180° and > half the lesion length"),
]

STENT_REASONS = [
    ("flow_limiting_dissection", "Flow-limiting dissection"),
    ("residual_stenosis", "Residual stenosis > 30 %"),
    ("other", "Other"),
]

#: Stent fracture types as commonly classified (Jaff / Rocha-Singh). NOT in the project's clinical reference
#: (clinical.md has no stent-fracture classification); labels as the project issue gives them.
FRACTURE_TYPES = [
    ("I", "I: single strut"),
    ("II", "II: multiple struts"),
    ("III", "III: transverse, without displacement"),
    ("IV", "IV: transverse, with displacement"),
    ("V", "V: spiral / gap"),
]


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


# -- target lesion --------------------------------------------------------------------------------

#: PARC: the femoropopliteal level ends at the origin of the anterior tibial artery, so P3 is femoropopliteal and
#: the tibioperoneal trunk is below the knee (tibiopedal).
FEMOROPOPLITEAL = {"sfa_proximal", "sfa_mid", "sfa_distal", "popliteal_p1", "popliteal_p2", "popliteal_p3"}
TERRITORIES = {"femoropopliteal": "Femoropopliteal", "below_knee": "Below the knee"}


#: Fields of the procedure form's "tick all that apply" device list.
DEVICES = ("device_predilatation", "device_dcb", "device_des", "device_bms", "device_atherectomy", "device_other")
STENTS = ("device_des", "device_bms")


# -- shared helpers -------------------------------------------------------------------------


def territory(segment: str | None) -> str | None:
    """Femoropopliteal or below the knee, for a segment code (LEG-DEB reports by territory)."""
    if segment is None:
        return None
    return "femoropopliteal" if segment in FEMOROPOPLITEAL else "below_knee"


def stented(get: Callable[[str], object]) -> bool:
    """Whether a stent (drug-eluting or bare-metal) was placed, from a value getter (form or data row)."""
    return any(bool(get(name)) for name in STENTS)


def parc_success(get: Callable[[str], object]) -> bool | None:
    """PARC technical success from a value getter (form or data row); None until residual stenosis and dissection are known."""
    residual, dissection = get("residual_stenosis_pct"), get("flow_limiting_dissection")
    if residual is None or dissection is None:
        return None
    # An integer item and a yes/no item (the getter's values are untyped); scales checks them.
    return scales.parc_technical_success(cast(int, residual), stented(get), cast(bool, dissection))


LESION_PERIPHERAL_ITEMS = items(
    Item("side", "Target limb", Kind.CHOICE, codes=SIDES),
    #: Segment code (forms.peripheral.SEGMENTS): where the lesion narrows most.
    Item(
        "segment",
        "Target segment",
        Kind.CHOICE,
        codes=SEGMENTS,
        description="For a lesion over several segments: the segment of its tightest narrowing.",
        length=20,
    ),
    Item("lesion_length_mm", "Lesion length (mm)", Kind.INTEGER, low=1, high=500, unit="mm"),
    Item("occluded", "Total occlusion", Kind.YES_NO),
    #: Diameter stenosis, %; 100 for a total occlusion (the eligibility rules read this column's name).
    Item("stenosis_pct", "Diameter stenosis (%)", Kind.INTEGER, low=1, high=100, unit="%", description="A total occlusion is 100 %."),
    #: none / focal / mild / moderate / severe (PARC).
    Item("calcification", "Calcification (PARC)", Kind.CHOICE, codes=CALCIFICATION, length=10),
    Item("in_stent_restenosis", "In-stent restenosis", Kind.YES_NO),
    Item("reference_diameter_mm", "Reference vessel diameter (mm)", Kind.DECIMAL, low="1.0", high="12.0", places=1, unit="mm"),
    #: Computed: femoropopliteal / below_knee, from the segment (LEG-DEB reports results by territory).
    Item("territory", "Territory", Kind.TEXT, length=20, derived_from=("segment",)),
)


class LesionPeripheralData(CrfData):
    __tablename__ = "lesion_peripheral_data"

    __items__ = LESION_PERIPHERAL_ITEMS


def compute_lesion(data: LesionPeripheralData, context: FormContext) -> None:
    """Territory of the target segment."""
    data.territory = territory(data.segment)


def lesion_results(data: LesionPeripheralData) -> list[tuple[str, str]]:
    return [("Territory", TERRITORIES.get(data.territory or "", "not known until the segment is entered"))]


# -- procedure ----------------------------------------------------------------------------------------

PROCEDURE_PERIPHERAL_ITEMS = items(
    Item("procedure_date", "Procedure date", Kind.DATE),
    #: "Tick all that apply" devices; nullable because a box may carry a missing-data code.
    Item("device_predilatation", "Devices used: predilatation balloon", Kind.TICK),
    Item("device_dcb", "Devices used: drug-coated balloon", Kind.TICK),
    Item("device_des", "Devices used: drug-eluting stent", Kind.TICK),
    Item("device_bms", "Devices used: bare-metal stent", Kind.TICK),
    Item("device_atherectomy", "Devices used: atherectomy", Kind.TICK),
    Item("device_other", "Devices used: other", Kind.TICK),
    Item("device_other_specify", "Other device: specify", Kind.TEXT, max_length=100, required=False),
    #: A stent placed for a suboptimal balloon result (bail-out), with its reason code.
    Item("provisional_stent", "Provisional stent placed", Kind.YES_NO, description="A stent placed for a suboptimal balloon result (bail-out)."),
    Item("provisional_stent_reason", "Reason for the provisional stent", Kind.CHOICE, codes=STENT_REASONS, required=False, length=30),
    Item("provisional_stent_reason_other", "Other reason for the provisional stent: specify", Kind.TEXT, max_length=100, required=False),
    Item("residual_stenosis_pct", "Residual stenosis after the procedure (%)", Kind.INTEGER, low=0, high=100, unit="%"),
    #: Flow-limiting dissection remaining at the end of the procedure.
    Item("flow_limiting_dissection", "Flow-limiting dissection at the end of the procedure", Kind.YES_NO),
    #: The investigator's judgement of technical success.
    Item("technical_success", "Technical success (investigator's judgement)", Kind.YES_NO),
    #: Computed: technical success by PARC (residual <= 30 % with a stent, <= 50 % without, no flow-limiting dissection).
    Item(
        "technical_success_parc",
        "PARC technical success",
        Kind.YES_NO,
        derived_from=("residual_stenosis_pct", "flow_limiting_dissection", "device_des", "device_bms"),
    ),
)


class ProcedurePeripheralData(CrfData):
    __tablename__ = "procedure_peripheral_data"

    __items__ = PROCEDURE_PERIPHERAL_ITEMS


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

STENT_FRACTURE_ITEMS = items(
    Item("xray_date", "X-ray date", Kind.DATE),
    Item("fracture", "Stent fracture", Kind.YES_NO),
    #: I-V (Jaff / Rocha-Singh), only when there is a fracture.
    Item("fracture_type", "Fracture type", Kind.CHOICE, codes=FRACTURE_TYPES, required=False),
)


class StentFractureData(CrfData):
    __tablename__ = "stent_fracture_data"

    __items__ = STENT_FRACTURE_ITEMS


INSTRUMENTS = [
    Instrument("lesion_peripheral", LesionPeripheralData, compute=compute_lesion, results=lesion_results),
    Instrument("procedure_peripheral", ProcedurePeripheralData, compute=compute_procedure, results=procedure_results),
    Instrument("stent_fracture", StentFractureData),
]
