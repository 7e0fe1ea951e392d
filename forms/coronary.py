"""PRECISE CAL coronary forms: the index PCI with calcium modification, perioperative events, 12-month QFR.

Facts from ../shared/reference/clinical.md §6 (QFR), §8.4 (PRECISE CAL) and §8.6
(periprocedural MI). Numbers the protocol owns (inclusion limits, the randomization
gate, the MI multiple, the QFR flag) are read from the protocol file, never written here.
"""

from __future__ import annotations

from ecrf.instruments.coronary import (
    MARKERS,
    PERIOPERATIVE_EVENTS_ITEMS,
    PROCEDURE_CORONARY_ITEMS,
    QFR_ITEMS,
)
from forms.base import CrfForm, Warning
from forms.fields import field_for

#: (field, label) of the calcium modification techniques, paper order; the protocol requires at least one.
MODIFICATIONS = [
    ("modification_ra", "Calcium modification: rotational atherectomy (RA)"),
    ("modification_ivl", "Calcium modification: intravascular lithotripsy (IVL)"),
    ("modification_elca", "Calcium modification: excimer laser coronary angioplasty (ELCA)"),
]
#: A peak above this multiple of its ULN is almost always a unit mix-up (e.g. ng/L against ng/mL): confirm.
MARKER_MULTIPLE_IMPLAUSIBLE = 1000
#: Fields (after the marker's prefix) answered only when that marker was measured.
MARKER_FIELDS = ("_unit", "_uln", "_pre", "_peak", "_peak_at")


class ProcedureCoronaryForm(CrfForm):
    target_vessel = field_for(PROCEDURE_CORONARY_ITEMS["target_vessel"])
    target_vessel_other = field_for(PROCEDURE_CORONARY_ITEMS["target_vessel_other"])
    #: Hard limits 1.00-6.00 mm are our own plausibility limits; the inclusion range (2.25-4.0 mm) is a warning.
    reference_diameter_mm = field_for(PROCEDURE_CORONARY_ITEMS["reference_diameter_mm"])
    # Calcium modification technique: tick all that apply.
    modification_ra = field_for(PROCEDURE_CORONARY_ITEMS["modification_ra"])
    modification_ivl = field_for(PROCEDURE_CORONARY_ITEMS["modification_ivl"])
    modification_elca = field_for(PROCEDURE_CORONARY_ITEMS["modification_elca"])
    qfr_post_modification = field_for(PROCEDURE_CORONARY_ITEMS["qfr_post_modification"])
    device = field_for(PROCEDURE_CORONARY_ITEMS["device"])
    bailout_stent = field_for(PROCEDURE_CORONARY_ITEMS["bailout_stent"])
    bailout_reason = field_for(PROCEDURE_CORONARY_ITEMS["bailout_reason"])
    bailout_reason_other = field_for(PROCEDURE_CORONARY_ITEMS["bailout_reason_other"])

    def check(self) -> None:
        """Other vessel specified; at least one modification technique; bail-out questions only for DCB."""
        self.other_specified("target_vessel", "target_vessel_other")
        if self.completing and not any(self.value(name) for name, _ in MODIFICATIONS):
            self.fail(
                MODIFICATIONS[0][0],
                (
                    "Calcium modification technique: tick at least one of rotational atherectomy (RA), intravascular "
                    "lithotripsy (IVL) or excimer laser (ELCA); the protocol requires calcium modification."
                ),
            )
        device, bailout = self.value("device"), self.value("bailout_stent")
        self.require_if(device == "dcb", "bailout_stent", "when the device used is DCB")
        self.leave_empty(device == "des", "bailout_stent", "when the device used is DES (the question is for DCB subjects)")
        self.require_if(bailout is True, "bailout_reason", "when a bail-out stent was placed")
        self.leave_empty(bailout is not True, "bailout_reason", "unless a bail-out stent was placed")
        self.other_specified("bailout_reason", "bailout_reason_other")

    def warnings(self) -> list[Warning]:
        """Vessel diameter outside the inclusion range; QFR not above the randomization gate."""
        return [
            *self.eligibility_warnings("vessel_diameter_mm", self.value("reference_diameter_mm"), "reference_diameter_mm", "Reference vessel diameter"),
            *self.eligibility_warnings("qfr_post_modification", self.value("qfr_post_modification"), "qfr_post_modification", "QFR after calcium modification"),
        ]


CTN, CKMB = (name for _, name in MARKERS)


class PerioperativeEventsForm(CrfForm):
    side_branch_loss = field_for(PERIOPERATIVE_EVENTS_ITEMS["side_branch_loss"])
    perforation = field_for(PERIOPERATIVE_EVENTS_ITEMS["perforation"])
    no_reflow = field_for(PERIOPERATIVE_EVENTS_ITEMS["no_reflow"])
    ctn_measured = field_for(PERIOPERATIVE_EVENTS_ITEMS["ctn_measured"])
    ctn_unit = field_for(PERIOPERATIVE_EVENTS_ITEMS["ctn_unit"])
    ctn_uln = field_for(PERIOPERATIVE_EVENTS_ITEMS["ctn_uln"])
    ctn_pre = field_for(PERIOPERATIVE_EVENTS_ITEMS["ctn_pre"])
    ctn_peak = field_for(PERIOPERATIVE_EVENTS_ITEMS["ctn_peak"])
    ctn_peak_at = field_for(PERIOPERATIVE_EVENTS_ITEMS["ctn_peak_at"])
    ckmb_measured = field_for(PERIOPERATIVE_EVENTS_ITEMS["ckmb_measured"])
    ckmb_unit = field_for(PERIOPERATIVE_EVENTS_ITEMS["ckmb_unit"])
    ckmb_uln = field_for(PERIOPERATIVE_EVENTS_ITEMS["ckmb_uln"])
    ckmb_pre = field_for(PERIOPERATIVE_EVENTS_ITEMS["ckmb_pre"])
    ckmb_peak = field_for(PERIOPERATIVE_EVENTS_ITEMS["ckmb_peak"])
    ckmb_peak_at = field_for(PERIOPERATIVE_EVENTS_ITEMS["ckmb_peak_at"])

    def check(self) -> None:
        """Each marker's block is answered when it was measured and left empty when not; the peak is drawn
        after day 0 began and not in the future."""
        for prefix, _ in MARKERS:
            measured = self.yes(f"{prefix}_measured")
            for suffix in MARKER_FIELDS:
                self.only_if(measured, prefix + suffix, "when the marker was measured", "when the marker was not measured")
            self.check_date_in_study(f"{prefix}_peak_at")

    def warnings(self) -> list[Warning]:
        """A value over 1000 times its ULN: most likely the two were entered in different units."""
        found = []
        for prefix, name in MARKERS:
            uln = self.value(f"{prefix}_uln")
            for suffix, what in (("_pre", "pre-PCI value"), ("_peak", "post-PCI peak")):
                value = self.value(prefix + suffix)
                if value is not None and uln and value > MARKER_MULTIPLE_IMPLAUSIBLE * uln:
                    found.append(
                        Warning(
                            f"{prefix}{suffix}_multiple_high",
                            prefix + suffix,
                            (f"{name}: {what} is more than {MARKER_MULTIPLE_IMPLAUSIBLE} times the upper limit of normal: confirm both are in the same unit."),
                        )
                    )
        return found


class QfrForm(CrfForm):
    angiography_date = field_for(QFR_ITEMS["angiography_date"])
    qfr_target_vessel = field_for(QFR_ITEMS["qfr_target_vessel"])
    restenosis = field_for(QFR_ITEMS["restenosis"])

    def check(self) -> None:
        """The angiography lies between day 0 and today."""
        self.check_date_in_study("angiography_date")
