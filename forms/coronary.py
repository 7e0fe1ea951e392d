"""PRECISE CAL coronary forms: the index PCI with calcium modification, perioperative events, 12-month QFR.

Facts from ../shared/reference/clinical.md §6 (QFR), §8.4 (PRECISE CAL) and §8.6
(periprocedural MI). Numbers the protocol owns (inclusion limits, the randomization
gate, the MI multiple, the QFR flag) are read from the protocol file, never written here.
"""
from __future__ import annotations

from forms.base import CrfForm, Warning
from forms.fields import choice, date_field, decimal, text, tick, yes_no

#: QFR is a dimensionless pressure ratio like FFR. clinical.md §6 marks its valid range
#: unconfirmed; we accept 0.00-1.00 (2 decimals, as the sources report it): the
#: computation models a distal/aortic pressure ratio under fixed or contrast flow, which cannot exceed 1.
QFR_LOW, QFR_HIGH = "0.00", "1.00"
VESSELS = [("lad", "Left anterior descending (LAD)"), ("lcx", "Left circumflex (LCx)"), ("rca", "Right coronary artery (RCA)"),
           ("left_main", "Left main"), ("other", "Other")]
#: The randomized arm's device. The form neither shows nor checks the subject's arm (open-label, but the
#: entry must record what was used, and a mismatch is a deviation for the monitor, not an entry error).
DEVICES = [("dcb", "Drug-coated balloon (DCB)"), ("des", "Drug-eluting stent (DES)")]
BAILOUT_REASONS = [("flow_limiting_dissection", "Flow-limiting dissection"), ("other", "Other")]
MARKERS = [("ctn", "Cardiac troponin (cTn)"), ("ckmb", "CK-MB")]
#: (field, label) of the calcium modification techniques, paper order; the protocol requires at least one.
MODIFICATIONS = [("modification_ra", "Calcium modification: rotational atherectomy (RA)"),
                 ("modification_ivl", "Calcium modification: intravascular lithotripsy (IVL)"),
                 ("modification_elca", "Calcium modification: excimer laser coronary angioplasty (ELCA)")]
#: A peak above this multiple of its ULN is almost always a unit mix-up (e.g. ng/L against ng/mL): confirm.
MARKER_MULTIPLE_IMPLAUSIBLE = 1000
#: Fields answered only when a marker was measured.
MARKER_FIELDS = ("marker", "marker_unit", "marker_peak", "marker_uln")


def _qfr(label: str, description: str = ""):
    return decimal(label, QFR_LOW, QFR_HIGH, 2, description=description)


class ProcedureCoronaryForm(CrfForm):
    target_vessel = choice("Target vessel", VESSELS)
    target_vessel_other = text("Target vessel: specify other", 100, is_required=False)
    #: Hard limits 1.00-6.00 mm are our own plausibility limits; the inclusion range (2.25-4.0 mm) is a warning.
    reference_diameter_mm = decimal("Reference vessel diameter (mm)", "1.00", "6.00", 2, "mm")
    # Calcium modification technique: tick all that apply.
    modification_ra = tick(MODIFICATIONS[0][1], description="Tick all that apply; at least one")
    modification_ivl = tick(MODIFICATIONS[1][1])
    modification_elca = tick(MODIFICATIONS[2][1])
    qfr_post_modification = _qfr("QFR after calcium modification", "Quantitative flow ratio of the target vessel, 0.00-1.00")
    device = choice("Device used", DEVICES, description="The device of the subject's randomized arm")
    bailout_stent = yes_no(
        "Bail-out stent (DCB subjects)", is_required=False,
        description="A DCB subject who gets a bail-out stent stays in the DCB arm; the crossover is recorded",
    )
    bailout_reason = choice("Bail-out stent: reason", BAILOUT_REASONS, is_required=False)
    bailout_reason_other = text("Bail-out stent: specify other reason", 200, is_required=False)

    def check(self) -> None:
        """Other vessel specified; at least one modification technique; bail-out questions only for DCB."""
        self.other_specified("target_vessel", "target_vessel_other")
        if self.completing and not any(self.value(name) for name, _ in MODIFICATIONS):
            self.fail(MODIFICATIONS[0][0], (
                "Calcium modification technique: tick at least one of rotational atherectomy (RA), intravascular "
                "lithotripsy (IVL) or excimer laser (ELCA); the protocol requires calcium modification."
            ))
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


class PerioperativeEventsForm(CrfForm):
    side_branch_loss = yes_no("Side-branch loss")
    perforation = yes_no("Coronary perforation")
    no_reflow = yes_no("No-reflow / slow flow")
    marker_measured = yes_no("Cardiac marker measured after PCI")
    marker = choice("Cardiac marker", MARKERS, is_required=False, description="The marker whose peak is entered below")
    marker_unit = text("Marker unit", 20, is_required=False, description="As the laboratory reports it, e.g. ng/mL; the same for the peak and the ULN")
    marker_peak = decimal("Marker peak value", "0", "100000", 3, is_required=False)
    marker_uln = decimal(
        "Marker upper limit of normal", "0.001", "100000", 3, is_required=False,
        description="The laboratory's upper limit of normal (for troponin the 99th-percentile upper reference limit), same unit as the peak",
    )

    def check(self) -> None:
        """The marker block is answered when a marker was measured, and left empty when not."""
        measured = self.value("marker_measured")
        for name in MARKER_FIELDS:
            self.require_if(measured is True, name, "when a cardiac marker was measured")
            self.leave_empty(measured is False, name, "when no cardiac marker was measured")

    def warnings(self) -> list[Warning]:
        """A peak over 1000 times its ULN: most likely the two were entered in different units."""
        peak, uln = self.value("marker_peak"), self.value("marker_uln")
        if peak is not None and uln and peak / uln > MARKER_MULTIPLE_IMPLAUSIBLE:
            return [Warning("marker_multiple_high", "marker_peak", (
                f"Marker peak value is more than {MARKER_MULTIPLE_IMPLAUSIBLE} times the upper limit of normal: "
                "confirm both are in the same unit."
            ))]
        return []



class QfrForm(CrfForm):
    angiography_date = date_field("Angiography date")
    qfr_target_vessel = _qfr("QFR of the target vessel", "Quantitative flow ratio, 0.00-1.00")
    restenosis = yes_no("Target-vessel restenosis", description="Angiographic diameter stenosis of 50 % or more in the target vessel")

    def check(self) -> None:
        """The angiography lies between day 0 and today."""
        self.check_date_in_study("angiography_date")
