"""Peripheral (femoropopliteal and below-the-knee) forms: target lesion, procedure, stent fracture x-ray.

Also the segment list the duplex form shares.
"""
from __future__ import annotations

from collections.abc import Callable

from ecrf import scales
from forms.abi import SIDES
from forms.base import CrfForm, Warning
from forms.fields import choice, date_field, decimal, integer, text, tick, yes_no

#: Arterial segments, proximal to distal (PARC anatomic levels, clinical.md §8.1; PARC Table 3). The list covers
#: the femoropopliteal and below-the-knee studies (DEFIER, LEG-DEB); common femoral, profunda and pedal arteries are
#: left out because no study treats them.
SEGMENTS = [
    ("sfa_proximal", "SFA, proximal third"), ("sfa_mid", "SFA, middle third"), ("sfa_distal", "SFA, distal third"),
    ("popliteal_p1", "Popliteal P1 (above the knee)"), ("popliteal_p2", "Popliteal P2 (knee joint)"),
    ("popliteal_p3", "Popliteal P3 (below the knee)"), ("tibioperoneal_trunk", "Tibioperoneal trunk"),
    ("anterior_tibial", "Anterior tibial"), ("posterior_tibial", "Posterior tibial"), ("peroneal", "Peroneal"),
]
#: PARC: the femoropopliteal level ends at the origin of the anterior tibial artery, so P3 is femoropopliteal and
#: the tibioperoneal trunk is below the knee (tibiopedal).
FEMOROPOPLITEAL = {"sfa_proximal", "sfa_mid", "sfa_distal", "popliteal_p1", "popliteal_p2", "popliteal_p3"}
TERRITORIES = {"femoropopliteal": "Femoropopliteal", "below_knee": "Below the knee"}

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
    ("flow_limiting_dissection", "Flow-limiting dissection"), ("residual_stenosis", "Residual stenosis > 30 %"), ("other", "Other"),
]
#: Fields of the procedure form's "tick all that apply" device list.
DEVICES = ("device_predilatation", "device_dcb", "device_des", "device_bms", "device_atherectomy", "device_other")
STENTS = ("device_des", "device_bms")

#: Stent fracture types as commonly classified (Jaff / Rocha-Singh). NOT in the project's clinical reference
#: (clinical.md has no stent-fracture classification); labels as the project issue gives them.
FRACTURE_TYPES = [
    ("I", "I: single strut"), ("II", "II: multiple struts"), ("III", "III: transverse, without displacement"),
    ("IV", "IV: transverse, with displacement"), ("V", "V: spiral / gap"),
]


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
    return scales.parc_technical_success(residual, stented(get), dissection)


# -- target lesion ----------------------------------------------------------------------------

class LesionPeripheralForm(CrfForm):
    side = choice("Target limb", SIDES)
    # One segment per lesion: a lesion spanning several segments is entered at its tightest narrowing (where the
    # follow-up duplex samples); its extent is given by the length.
    segment = choice("Target segment", SEGMENTS, description="For a lesion over several segments: the segment of its tightest narrowing.")
    # Physiological range only; the study limits (DEFIER <= 300 mm) are eligibility rules in the protocol file.
    lesion_length_mm = integer("Lesion length (mm)", 1, 500, "mm")
    # Occlusion is asked first: an occluded lesion must be entered as 100 % (DEFIER's eligibility reads stenosis_pct).
    occluded = yes_no("Total occlusion")
    stenosis_pct = integer("Diameter stenosis (%)", 1, 100, "%", description="A total occlusion is 100 %.")
    calcification = choice("Calcification (PARC)", CALCIFICATION)
    in_stent_restenosis = yes_no("In-stent restenosis")
    reference_diameter_mm = decimal("Reference vessel diameter (mm)", "1.0", "12.0", 1, "mm")

    def check(self) -> None:
        """An occlusion is 100 % stenosis and 100 % is an occlusion: a mismatch is refused, not corrected silently."""
        occluded, stenosis = self.yes("occluded"), self.value("stenosis_pct")
        if occluded is None or stenosis is None:
            return
        if occluded and stenosis != 100:
            self.fail("stenosis_pct", "Diameter stenosis (%): must be 100 for a total occlusion.")
        elif not occluded and stenosis == 100:
            self.fail("stenosis_pct", "Diameter stenosis (%): 100 % is a total occlusion; answer Total occlusion Yes, or enter at most 99.")

    def warnings(self) -> list[Warning]:
        """At day 0, a length or stenosis contradicting the protocol's eligibility (DEFIER: <= 30 cm, >= 50 %), to be confirmed."""
        return [
            *self.eligibility_warnings("lesion_length_mm", self.value("lesion_length_mm"), "lesion_length_mm", "Lesion length (mm)"),
            *self.eligibility_warnings("stenosis_pct", self.value("stenosis_pct"), "stenosis_pct", "Diameter stenosis (%)"),
        ]


# -- procedure ----------------------------------------------------------------------------------

class ProcedurePeripheralForm(CrfForm):
    procedure_date = date_field("Procedure date")
    device_predilatation = tick("Devices used: predilatation balloon")
    device_dcb = tick("Devices used: drug-coated balloon")
    device_des = tick("Devices used: drug-eluting stent")
    device_bms = tick("Devices used: bare-metal stent")
    device_atherectomy = tick("Devices used: atherectomy")
    device_other = tick("Devices used: other")
    device_other_specify = text("Other device: specify", 100, is_required=False)
    provisional_stent = yes_no("Provisional stent placed", description="A stent placed for a suboptimal balloon result (bail-out).")
    provisional_stent_reason = choice("Reason for the provisional stent", STENT_REASONS, is_required=False)
    provisional_stent_reason_other = text("Other reason for the provisional stent: specify", 100, is_required=False)
    residual_stenosis_pct = integer("Residual stenosis after the procedure (%)", 0, 100, "%")
    # PARC technical success also requires no flow-limiting dissection (clinical.md §8.1), so it is asked; the
    # translesional gradient (< 10 mmHg) is rarely measured and is left out.
    flow_limiting_dissection = yes_no("Flow-limiting dissection at the end of the procedure")
    technical_success = yes_no("Technical success (investigator's judgement)")

    def check(self) -> None:
        """Date in the study; at least one device; specifications and the stent reason when they apply; a provisional stent is ticked."""
        self.check_date_in_study("procedure_date")
        if self.completing and not any(self.value(name) for name in DEVICES):
            self.fail("device_predilatation", "Devices used: tick at least one device.")
        self.only_if(bool(self.value("device_other")), "device_other_specify", "when Other device is ticked", "unless Other device is ticked")
        provisional = self.yes("provisional_stent")
        self.only_if(provisional, "provisional_stent_reason", "when a provisional stent was placed", "when no provisional stent was placed")
        reason = self.value("provisional_stent_reason")
        self.only_if(None if reason is None else reason == "other", "provisional_stent_reason_other",
                "when the reason is Other", "unless the reason is Other")
        if provisional and not stented(self.value):
            self.fail("provisional_stent", "Provisional stent placed: also tick the stent used (drug-eluting or bare-metal) under Devices used.")

    def warnings(self) -> list[Warning]:
        """A procedure not on day 0; an investigator's technical success that differs from the PARC criteria."""
        found = []
        day = self.value("procedure_date")
        if day is not None and day != self.context.index_date:
            found.append(Warning(
                "procedure_date_not_day_0", "procedure_date",
                f"Procedure date {day.isoformat()} is not day 0 ({self.context.index_date.isoformat()}, the subject's "
                f"{self.context.protocol.index.label.lower()}): confirm, or have day 0 corrected.",
            ))
        judged, computed = self.yes("technical_success"), parc_success(self.value)
        if judged is not None and computed is not None and judged != computed:
            limit = scales.PARC_RESIDUAL_MAX_STENT if stented(self.value) else scales.PARC_RESIDUAL_MAX_ANGIOPLASTY
            found.append(Warning(
                "technical_success_differs", "technical_success",
                f"Technical success is {'Yes' if judged else 'No'}, but by PARC (residual stenosis at most {limit} % "
                f"{'after a stent' if stented(self.value) else 'without a stent'}, no flow-limiting dissection) it is "
                f"{'Yes' if computed else 'No'}: confirm the judgement.",
            ))
        return found


# -- stent fracture (x-ray) ------------------------------------------------------------------------

class StentFractureForm(CrfForm):
    xray_date = date_field("X-ray date")
    fracture = yes_no("Stent fracture")
    fracture_type = choice("Fracture type", FRACTURE_TYPES, is_required=False)

    def check(self) -> None:
        """X-ray date in the study; a fracture type exactly when there is a fracture."""
        self.check_date_in_study("xray_date")
        self.only_if(self.yes("fracture"), "fracture_type", "when there is a stent fracture", "when there is no stent fracture")

    def warnings(self) -> list[Warning]:
        """An x-ray outside the visit window."""
        return self.window_warning("xray_date")
