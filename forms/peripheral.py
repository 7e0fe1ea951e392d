"""Peripheral (femoropopliteal and below-the-knee) forms: target lesion, procedure, stent fracture x-ray."""

from __future__ import annotations

from ecrf import scales
from ecrf.instruments.peripheral import (  # noqa: F401 (re-exported)
    DEVICES,
    LESION_PERIPHERAL_ITEMS,
    PROCEDURE_PERIPHERAL_ITEMS,
    STENT_FRACTURE_ITEMS,
    STENTS,
    TERRITORIES,
    parc_success,
    stented,
    territory,
)
from forms.base import CrfForm, Warning
from forms.fields import field_for

# -- target lesion ----------------------------------------------------------------------------


class LesionPeripheralForm(CrfForm):
    side = field_for(LESION_PERIPHERAL_ITEMS["side"])
    # One segment per lesion: a lesion spanning several segments is entered at its tightest narrowing (where the
    # follow-up duplex samples); its extent is given by the length.
    segment = field_for(LESION_PERIPHERAL_ITEMS["segment"])
    # Physiological range only; the study limits (DEFIER <= 300 mm) are eligibility rules in the protocol file.
    lesion_length_mm = field_for(LESION_PERIPHERAL_ITEMS["lesion_length_mm"])
    # Occlusion is asked first: an occluded lesion must be entered as 100 % (DEFIER's eligibility reads stenosis_pct).
    occluded = field_for(LESION_PERIPHERAL_ITEMS["occluded"])
    stenosis_pct = field_for(LESION_PERIPHERAL_ITEMS["stenosis_pct"])
    calcification = field_for(LESION_PERIPHERAL_ITEMS["calcification"])
    in_stent_restenosis = field_for(LESION_PERIPHERAL_ITEMS["in_stent_restenosis"])
    reference_diameter_mm = field_for(LESION_PERIPHERAL_ITEMS["reference_diameter_mm"])

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
    procedure_date = field_for(PROCEDURE_PERIPHERAL_ITEMS["procedure_date"])
    device_predilatation = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_predilatation"])
    device_dcb = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_dcb"])
    device_des = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_des"])
    device_bms = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_bms"])
    device_atherectomy = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_atherectomy"])
    device_other = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_other"])
    device_other_specify = field_for(PROCEDURE_PERIPHERAL_ITEMS["device_other_specify"])
    provisional_stent = field_for(PROCEDURE_PERIPHERAL_ITEMS["provisional_stent"])
    provisional_stent_reason = field_for(PROCEDURE_PERIPHERAL_ITEMS["provisional_stent_reason"])
    provisional_stent_reason_other = field_for(PROCEDURE_PERIPHERAL_ITEMS["provisional_stent_reason_other"])
    residual_stenosis_pct = field_for(PROCEDURE_PERIPHERAL_ITEMS["residual_stenosis_pct"])
    # PARC technical success also requires no flow-limiting dissection (clinical.md §8.1), so it is asked; the
    # translesional gradient (< 10 mmHg) is rarely measured and is left out.
    flow_limiting_dissection = field_for(PROCEDURE_PERIPHERAL_ITEMS["flow_limiting_dissection"])
    technical_success = field_for(PROCEDURE_PERIPHERAL_ITEMS["technical_success"])

    def check(self) -> None:
        """Date in the study; at least one device; specifications and the stent reason when they apply; a provisional stent is ticked."""
        self.check_date_in_study("procedure_date")
        if self.completing and not any(self.value(name) for name in DEVICES):
            self.fail("device_predilatation", "Devices used: tick at least one device.")
        self.only_if(bool(self.value("device_other")), "device_other_specify", "when Other device is ticked", "unless Other device is ticked")
        provisional = self.yes("provisional_stent")
        self.only_if(provisional, "provisional_stent_reason", "when a provisional stent was placed", "when no provisional stent was placed")
        reason = self.value("provisional_stent_reason")
        self.only_if(None if reason is None else reason == "other", "provisional_stent_reason_other", "when the reason is Other", "unless the reason is Other")
        if provisional and not stented(self.value):
            self.fail("provisional_stent", "Provisional stent placed: also tick the stent used (drug-eluting or bare-metal) under Devices used.")

    def warnings(self) -> list[Warning]:
        """A procedure not on day 0; an investigator's technical success that differs from the PARC criteria."""
        found = []
        day = self.value("procedure_date")
        if day is not None and day != self.context.index_date:
            found.append(
                Warning(
                    "procedure_date_not_day_0",
                    "procedure_date",
                    f"Procedure date {day.isoformat()} is not day 0 ({self.context.index_date.isoformat()}, the subject's "
                    f"{self.context.protocol.index.label.lower()}): confirm, or have day 0 corrected.",
                )
            )
        judged, computed = self.yes("technical_success"), parc_success(self.value)
        if judged is not None and computed is not None and judged != computed:
            limit = scales.PARC_RESIDUAL_MAX_STENT if stented(self.value) else scales.PARC_RESIDUAL_MAX_ANGIOPLASTY
            found.append(
                Warning(
                    "technical_success_differs",
                    "technical_success",
                    f"Technical success is {'Yes' if judged else 'No'}, but by PARC (residual stenosis at most {limit} % "
                    f"{'after a stent' if stented(self.value) else 'without a stent'}, no flow-limiting dissection) it is "
                    f"{'Yes' if computed else 'No'}: confirm the judgement.",
                )
            )
        return found


# -- stent fracture (x-ray) ------------------------------------------------------------------------


class StentFractureForm(CrfForm):
    xray_date = field_for(STENT_FRACTURE_ITEMS["xray_date"])
    fracture = field_for(STENT_FRACTURE_ITEMS["fracture"])
    fracture_type = field_for(STENT_FRACTURE_ITEMS["fracture_type"])

    def check(self) -> None:
        """X-ray date in the study; a fracture type exactly when there is a fracture."""
        self.check_date_in_study("xray_date")
        self.only_if(self.yes("fracture"), "fracture_type", "when there is a stent fracture", "when there is no stent fracture")

    def warnings(self) -> list[Warning]:
        """An x-ray outside the visit window."""
        return self.window_warning("xray_date")
