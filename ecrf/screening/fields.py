"""The screening values that eligibility rules in protocol files may name.

Each protocol rule names a `field`; this catalogue says how the value is entered:
its label, its kind and plausible range, and whether it is typed as a number,
answered yes or no (stored 1 / 0), or computed from a date (symptom onset) or a
date-time (last known well). A protocol naming a field not in this catalogue is
refused when it is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal


@dataclass(frozen=True)
class ScreeningField:
    """How one screening value is entered."""

    code: str
    label: str
    low: str
    high: str
    places: int = 0
    unit: str = ""
    #: Entered as a date (days until the screening, later the enrolment, date), a site-local date-time (hours
    #: until now, judged unrounded), or a yes/no answer (stored as 1 for yes, 0 for no).
    entered_as: Literal["number", "date", "datetime", "yes_no"] = "number"
    #: "Days since an event": empty means the event never happened, so an exclusion on it does not apply.
    empty_means_never: bool = False

    @property
    def input_name(self) -> str:
        """The form field's name (the date or date-time it is computed from, for derived values)."""
        return {"number": self.code, "yes_no": self.code, "date": f"{self.code}__date", "datetime": f"{self.code}__at"}[self.entered_as]

    def shown(self, number: Decimal) -> str:
        """A value as people read it: rounded to the field's places, with its unit ("24.0 h"), "yes"/"no" for an answer.
        Only for showing: rules judge the exact value."""
        if self.entered_as == "yes_no":
            return "yes" if number == 1 else "no"
        text = str(Decimal(number).quantize(Decimal(1).scaleb(-self.places), rounding=ROUND_HALF_UP))
        return f"{text} {self.unit}".strip()


_FIELDS = [
    ScreeningField("age_years", "Age", "0", "120", unit="years"),
    ScreeningField("rutherford", "Rutherford category", "0", "6"),
    ScreeningField("stenosis_pct", "Diameter stenosis of the target lesion", "0", "100", unit="%"),
    ScreeningField("stent_age_days", "Days since the stent was implanted", "0", "20000", unit="days"),
    ScreeningField("extension_beyond_stent_mm", "Lesion extension beyond the stent (0 if within it)", "0", "500", unit="mm"),
    # DEFIER inclusion (4): where the stent lies, measured on the angiogram from the stent's ends.
    ScreeningField("stent_below_profunda_mm", "Stent's proximal end: distance below the origin of the profunda femoris artery", "0", "1000", unit="mm"),
    ScreeningField("stent_above_notch_mm", "Stent's distal end: distance above the femoral intercondylar notch", "0", "1000", unit="mm"),
    ScreeningField("lesion_length_mm", "Total target lesion length", "1", "1000", unit="mm"),
    ScreeningField("patent_runoff_vessels", "Patent below-the-knee runoff vessels", "0", "3"),
    ScreeningField("days_since_stroke", "Days since the last stroke", "0", "36500", unit="days", empty_means_never=True),
    ScreeningField("prestroke_mrs", "Pre-stroke modified Rankin Scale", "0", "5"),
    ScreeningField("hours_since_last_known_well", "Last known well", "0", "8760", 1, "h", entered_as="datetime"),
    ScreeningField("nihss", "NIHSS score", "0", "42"),
    ScreeningField("aspects", "ASPECTS or pc-ASPECTS", "0", "10"),
    ScreeningField("residual_stenosis_pct", "Residual stenosis after thrombectomy", "0", "100", unit="%"),
    ScreeningField("platelets_10e9_l", "Platelets", "0", "2000", unit="×10⁹/L"),
    ScreeningField("aptt_s", "aPTT", "0", "300", 1, "s"),
    ScreeningField("inr", "INR", "0", "20", 2),
    ScreeningField("on_dialysis", "On dialysis", "0", "1", entered_as="yes_no"),
    ScreeningField("gfr_ml_min", "eGFR", "0", "200", unit="mL/min"),
    ScreeningField("creatinine_umol_l", "Serum creatinine", "0", "3000", unit="µmol/L"),
    ScreeningField("life_expectancy_months", "Expected survival", "0", "1200", unit="months"),
    ScreeningField("symptom_onset_days", "Date of DVT symptom onset", "0", "36500", unit="days", entered_as="date"),
    ScreeningField("villalta_total", "Villalta score", "0", "33"),
    ScreeningField("hemoglobin_g_dl", "Hemoglobin", "0", "30", 1, "g/dL"),
    ScreeningField("systolic_bp_mmhg", "Systolic blood pressure", "40", "300", unit="mmHg"),
    ScreeningField("diastolic_bp_mmhg", "Diastolic blood pressure", "20", "200", unit="mmHg"),
    ScreeningField("days_since_dvt_intervention", "Days since the last DVT intervention", "0", "36500", unit="days", empty_means_never=True),
    ScreeningField("vessel_diameter_mm", "Reference vessel diameter", "0.5", "10", 2, "mm"),
    ScreeningField("qfr_post_modification", "QFR after calcium modification", "0", "1", 2),
]

SCREENING_FIELDS: dict[str, ScreeningField] = {field.code: field for field in _FIELDS}
