"""PRECISE CAL coronary forms: the index PCI with calcium modification, perioperative events, 12-month QFR.

Facts from ../shared/reference/clinical.md §6 (QFR), §8.4 (PRECISE CAL) and §8.6
(periprocedural MI). Numbers the protocol owns (inclusion limits, the randomization
gate, the MI multiple, the QFR flag) are read from the protocol file, never written here.
"""
from __future__ import annotations

from forms.base import CrfForm, Warning
from forms.fields import choice, date_field, datetime_field, decimal, text, tick, yes_no

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
#: The cardiac markers of the protocol's MI definition ("cTn or CK-MB > 5x ULN"): field prefix and name.
#: Both may be measured; each has its own unit, ULN, pre-PCI value, post-PCI peak and sampling time.
MARKERS = [("ctn", "Troponin (cTn)"), ("ckmb", "CK-MB")]
#: (field, label) of the calcium modification techniques, paper order; the protocol requires at least one.
MODIFICATIONS = [("modification_ra", "Calcium modification: rotational atherectomy (RA)"),
                 ("modification_ivl", "Calcium modification: intravascular lithotripsy (IVL)"),
                 ("modification_elca", "Calcium modification: excimer laser coronary angioplasty (ELCA)")]
#: A peak above this multiple of its ULN is almost always a unit mix-up (e.g. ng/L against ng/mL): confirm.
MARKER_MULTIPLE_IMPLAUSIBLE = 1000
#: Fields (after the marker's prefix) answered only when that marker was measured.
MARKER_FIELDS = ("_unit", "_uln", "_pre", "_peak", "_peak_at")


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


CTN, CKMB = (name for _, name in MARKERS)


def _measured(name: str):
    return yes_no(f"{name} measured around the PCI")


def _unit(name: str):
    return text(f"{name}: unit", 20, is_required=False,
                description="As the laboratory reports it, e.g. ng/L; the same for the ULN, the pre-PCI value and the peak")


def _value(name: str, what: str, description: str, low: str = "0"):
    return decimal(f"{name}: {what}", low, "100000", 3, is_required=False, description=description)


def _sampled_at(name: str):
    return datetime_field(f"{name}: post-PCI peak sampled at", is_required=False, description="Site local date and time the peak sample was drawn")


ULN_HINT = "The laboratory's upper limit of normal (for troponin the 99th-percentile upper reference limit), same unit"
PRE_HINT = "The last value before the PCI; if none was drawn, use the missing code not done"
PEAK_HINT = "The highest value after the PCI"


class PerioperativeEventsForm(CrfForm):
    side_branch_loss = yes_no("Side-branch loss")
    perforation = yes_no("Coronary perforation")
    no_reflow = yes_no("No-reflow / slow flow")
    ctn_measured = _measured(CTN)
    ctn_unit = _unit(CTN)
    ctn_uln = _value(CTN, "upper limit of normal", ULN_HINT, low="0.001")
    ctn_pre = _value(CTN, "pre-PCI value", PRE_HINT)
    ctn_peak = _value(CTN, "post-PCI peak", PEAK_HINT)
    ctn_peak_at = _sampled_at(CTN)
    ckmb_measured = _measured(CKMB)
    ckmb_unit = _unit(CKMB)
    ckmb_uln = _value(CKMB, "upper limit of normal", ULN_HINT, low="0.001")
    ckmb_pre = _value(CKMB, "pre-PCI value", PRE_HINT)
    ckmb_peak = _value(CKMB, "post-PCI peak", PEAK_HINT)
    ckmb_peak_at = _sampled_at(CKMB)

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
                    found.append(Warning(f"{prefix}{suffix}_multiple_high", prefix + suffix, (
                        f"{name}: {what} is more than {MARKER_MULTIPLE_IMPLAUSIBLE} times the upper limit of normal: "
                        "confirm both are in the same unit."
                    )))
        return found


class QfrForm(CrfForm):
    angiography_date = date_field("Angiography date")
    qfr_target_vessel = _qfr("QFR of the target vessel", "Quantitative flow ratio, 0.00-1.00")
    restenosis = yes_no("Target-vessel restenosis", description="Angiographic diameter stenosis of 50 % or more in the target vessel")

    def check(self) -> None:
        """The angiography lies between day 0 and today."""
        self.check_date_in_study("angiography_date")
