"""PRECISE CAL coronary forms: procedure with calcium modification, perioperative events, 12-month QFR."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ecrf.instruments.coronary import (
    PerioperativeEventsData,
    ProcedureCoronaryData,
    QfrData,
    compute_perioperative,
    compute_procedure,
    compute_qfr,
    perioperative_results,
    qfr_results,
)
from forms.coronary import PerioperativeEventsForm, ProcedureCoronaryForm, QfrForm

#: Valid complete entries, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "procedure_coronary": {
        "target_vessel": "lad",
        "reference_diameter_mm": "3.00",
        "modification_ra": "y",
        "qfr_post_modification": "0.92",
        "device": "dcb",
        "bailout_stent": "False",
    },
    "perioperative_events": {
        "side_branch_loss": "False",
        "perforation": "False",
        "no_reflow": "False",
        "ctn_measured": "True",
        "ctn_unit": "ng/mL",
        "ctn_uln": "0.014",
        "ctn_pre": "0.010",
        "ctn_peak": "0.150",
        "ctn_peak_at": "2026-01-02T08:00",
        "ckmb_measured": "True",
        "ckmb_unit": "ng/mL",
        "ckmb_uln": "5.000",
        "ckmb_pre": "2.000",
        "ckmb_peak": "12.000",
        "ckmb_peak_at": "2026-01-02T08:00",
    },
    "qfr": {"angiography_date": "2027-01-01", "qfr_target_vessel": "0.88", "restenosis": "False"},
}
FORMS = {"procedure_coronary": (ProcedureCoronaryForm, "baseline"), "perioperative_events": (PerioperativeEventsForm, "baseline"), "qfr": (QfrForm, "m12")}


@pytest.fixture
def baseline(context):
    return context("precise-cal", "baseline")


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_each_example_is_valid_and_needs_no_confirmation(posted, context, code):
    form_class, visit = FORMS[code]
    form, valid = posted(form_class, EXAMPLES[code], context("precise-cal", visit))
    assert valid, (form.errors, form.form_errors)
    assert form.pending_warnings == []


# -- procedure_coronary ----------------------------------------------------------------------


def test_completing_needs_at_least_one_calcium_modification_technique(posted, baseline):
    values = {k: v for k, v in EXAMPLES["procedure_coronary"].items() if k != "modification_ra"}
    form, valid = posted(ProcedureCoronaryForm, values, baseline)
    assert not valid
    assert form.modification_ra.errors == [
        "Calcium modification technique: tick at least one of rotational atherectomy (RA), intravascular lithotripsy (IVL) "
        "or excimer laser (ELCA); the protocol requires calcium modification."
    ]
    _, draft_valid = posted(ProcedureCoronaryForm, values, baseline, complete=False)
    assert draft_valid


def test_several_modification_techniques_may_be_ticked(posted, baseline):
    form, valid = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "modification_ivl": "y", "modification_elca": "y"}, baseline)
    assert valid, form.errors
    assert (form.modification_ra.data, form.modification_ivl.data, form.modification_elca.data) == (True, True, True)


@pytest.mark.parametrize("qfr", ["1.01", "-0.01", "0.925"])
def test_qfr_must_lie_between_0_and_1_with_two_decimals(posted, baseline, qfr):
    form, valid = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "qfr_post_modification": qfr}, baseline)
    assert not valid
    assert form.qfr_post_modification.errors == ["QFR after calcium modification: enter a number from 0.00 to 1.00 (up to 2 decimals)."]


def test_qfr_at_the_gate_must_be_confirmed(posted, baseline):
    values = {**EXAMPLES["procedure_coronary"], "qfr_post_modification": "0.80"}
    form, valid = posted(ProcedureCoronaryForm, values, baseline)
    assert not valid
    assert [(w.code, w.message) for w in form.pending_warnings] == [
        (
            "eligibility_qfr_after_modification",
            "QFR after calcium modification 0.80 does not meet inclusion criterion \u201cQFR > 0.8 after calcification "
            "modification\u201d: confirm the value, and tell the monitor if the subject was not eligible.",
        )
    ]
    _, confirmed = posted(ProcedureCoronaryForm, {**values, "confirm": "eligibility_qfr_after_modification"}, baseline)
    assert confirmed


@pytest.mark.parametrize(("diameter", "warned"), [("2.25", False), ("4.00", False), ("2.24", True), ("4.01", True)])
def test_vessel_diameter_outside_the_inclusion_range_is_a_warning(posted, baseline, diameter, warned):
    form, _ = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "reference_diameter_mm": diameter}, baseline)
    assert [w.code for w in form.pending_warnings] == (["eligibility_vessel_diameter"] if warned else [])


def test_other_vessel_must_be_specified_and_only_then(posted, baseline):
    form, valid = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "target_vessel": "other"}, baseline)
    assert not valid
    assert form.target_vessel_other.errors == ["Target vessel: specify other: required when the answer is Other."]
    form, valid = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "target_vessel_other": "Ramus"}, baseline)
    assert form.target_vessel_other.errors == ["Target vessel: specify other: leave empty unless the answer is Other."]


def test_bailout_question_is_required_for_dcb_and_refused_for_des(posted, baseline):
    values = {k: v for k, v in EXAMPLES["procedure_coronary"].items() if k != "bailout_stent"}
    form, valid = posted(ProcedureCoronaryForm, values, baseline)
    assert not valid
    assert form.bailout_stent.errors == ["Bail-out stent (DCB subjects): required when the device used is DCB."]
    form, valid = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "device": "des"}, baseline)
    assert not valid
    assert form.bailout_stent.errors == ["Bail-out stent (DCB subjects): leave empty when the device used is DES (the question is for DCB subjects)."]
    _, valid = posted(ProcedureCoronaryForm, {**values, "device": "des"}, baseline)
    assert valid


def test_a_bailout_stent_needs_a_reason_and_other_is_specified(posted, baseline):
    values = {**EXAMPLES["procedure_coronary"], "bailout_stent": "True"}
    form, valid = posted(ProcedureCoronaryForm, values, baseline)
    assert form.bailout_reason.errors == ["Bail-out stent: reason: required when a bail-out stent was placed."]
    form, valid = posted(ProcedureCoronaryForm, {**values, "bailout_reason": "other"}, baseline)
    assert form.bailout_reason_other.errors == ["Bail-out stent: specify other reason: required when the answer is Other."]
    _, valid = posted(ProcedureCoronaryForm, {**values, "bailout_reason": "flow_limiting_dissection"}, baseline)
    assert valid
    form, valid = posted(ProcedureCoronaryForm, {**EXAMPLES["procedure_coronary"], "bailout_reason": "flow_limiting_dissection"}, baseline)
    assert form.bailout_reason.errors == ["Bail-out stent: reason: leave empty unless a bail-out stent was placed."]


@pytest.mark.parametrize(("device", "bailout", "crossover"), [("dcb", True, True), ("dcb", False, False), ("des", None, False), ("dcb", None, None)])
def test_crossover_is_a_dcb_subject_with_a_bailout_stent(baseline, device, bailout, crossover):
    data = ProcedureCoronaryData(device=device, bailout_stent=bailout)
    compute_procedure(data, baseline)
    assert data.crossover is crossover


# -- perioperative_events ----------------------------------------------------------------------


def _markers(**changes) -> PerioperativeEventsData:
    """Computed perioperative data: troponin 0.150 (ULN 0.014, pre 0.010) and CK-MB 12 (ULN 5, pre 2), with changes."""
    values = dict(
        ctn_measured=True,
        ctn_uln=Decimal("0.014"),
        ctn_pre=Decimal("0.010"),
        ctn_peak=Decimal("0.150"),
        ckmb_measured=True,
        ckmb_uln=Decimal("5.000"),
        ckmb_pre=Decimal("2.000"),
        ckmb_peak=Decimal("12.000"),
    )
    return PerioperativeEventsData(**{**values, **changes})


def test_marker_details_are_required_when_measured_and_refused_when_not(posted, baseline):
    values = {k: v for k, v in EXAMPLES["perioperative_events"].items() if k != "ckmb_uln"}
    form, valid = posted(PerioperativeEventsForm, values, baseline)
    assert not valid
    assert form.ckmb_uln.errors == ["CK-MB: upper limit of normal: required when the marker was measured."]
    form, valid = posted(PerioperativeEventsForm, {**EXAMPLES["perioperative_events"], "ctn_measured": "False"}, baseline)
    assert not valid
    assert form.ctn_peak.errors == ["Troponin (cTn): post-PCI peak: leave empty when the marker was not measured."]
    unmeasured = {k: v for k, v in EXAMPLES["perioperative_events"].items() if not k.startswith("ctn")}
    _, valid = posted(PerioperativeEventsForm, {**unmeasured, "ctn_measured": "False"}, baseline)
    assert valid


def test_troponin_and_ck_mb_are_both_entered_each_with_uln_pre_pci_value_and_sampling_time(posted, baseline):
    form, valid = posted(PerioperativeEventsForm, EXAMPLES["perioperative_events"], baseline)
    assert valid, form.errors
    for prefix in ("ctn", "ckmb"):
        assert {f"{prefix}_uln", f"{prefix}_pre", f"{prefix}_peak", f"{prefix}_peak_at"} <= set(form.data_field_names())
    entered = form.entry_input(complete=True).values
    assert (entered["ctn_pre"], entered["ckmb_pre"]) == (Decimal("0.010"), Decimal("2.000"))
    assert entered["ckmb_peak_at"] == datetime(2026, 1, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


def test_a_pre_pci_value_not_drawn_takes_a_missing_code(posted, baseline):
    values = {**EXAMPLES["perioperative_events"], "ckmb_pre": "", "ckmb_pre__missing": "not_done", "ckmb_pre__reason": "not drawn"}
    form, valid = posted(PerioperativeEventsForm, values, baseline)
    assert valid, form.errors


def test_a_peak_sampled_before_day_0_is_refused(posted, baseline):
    form, valid = posted(PerioperativeEventsForm, {**EXAMPLES["perioperative_events"], "ctn_peak_at": "2025-12-31T23:00"}, baseline)
    assert not valid
    assert form.ctn_peak_at.errors == ["Troponin (cTn): post-PCI peak sampled at: must not be before day 0 (2026-01-01)."]


def test_uln_of_zero_is_refused(posted, baseline):
    form, valid = posted(PerioperativeEventsForm, {**EXAMPLES["perioperative_events"], "ctn_uln": "0"}, baseline)
    assert not valid
    assert form.ctn_uln.errors == ["Troponin (cTn): upper limit of normal: enter a number from 0.001 to 100000 (up to 3 decimals)."]


def test_a_peak_over_1000_times_uln_must_be_confirmed_as_same_unit(posted, baseline):
    form, valid = posted(PerioperativeEventsForm, {**EXAMPLES["perioperative_events"], "ckmb_peak": "15000"}, baseline)
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "CK-MB: post-PCI peak is more than 1000 times the upper limit of normal: confirm both are in the same unit."
    ]


@pytest.mark.parametrize(
    ("peak", "shown", "mi"),
    [
        ("5.000", Decimal("5.0"), False),  # 5x is not "> 5x"
        ("5.040", Decimal("5.0"), True),  # shown as 5.0x, judged exactly: above 5x
        ("5.001", Decimal("5.0"), True),
        ("5.050", Decimal("5.1"), True),
        ("0.500", Decimal("0.5"), False),
    ],
)
def test_periprocedural_mi_is_judged_on_the_unrounded_multiple(baseline, peak, shown, mi):
    data = _markers(
        ckmb_peak=Decimal(peak), ckmb_uln=Decimal("1.000"), ckmb_pre=Decimal("0.500"), ctn_measured=False, ctn_uln=None, ctn_pre=None, ctn_peak=None
    )
    compute_perioperative(data, baseline)
    assert (data.ckmb_uln_multiple, data.mi_threshold_uln, data.ckmb_mi, data.periprocedural_mi) == (shown, Decimal(5), mi, mi)


@pytest.mark.parametrize(
    ("ctn_peak", "ckmb_peak", "ctn_mi", "ckmb_mi"),
    [
        ("0.150", "12.000", True, False),  # troponin 10.7x, CK-MB 2.4x
        ("0.050", "26.000", False, True),  # troponin 3.6x, CK-MB 5.2x
        ("0.050", "12.000", False, False),
    ],
)
def test_either_marker_above_5_times_uln_is_a_periprocedural_mi(baseline, ctn_peak, ckmb_peak, ctn_mi, ckmb_mi):
    data = _markers(ctn_peak=Decimal(ctn_peak), ckmb_peak=Decimal(ckmb_peak))
    compute_perioperative(data, baseline)
    assert (data.ctn_mi, data.ckmb_mi, data.periprocedural_mi) == (ctn_mi, ckmb_mi, ctn_mi or ckmb_mi)


@pytest.mark.parametrize(
    ("pre", "peak", "mi"),
    [
        ("0.020", "0.080", True),  # pre-PCI at the ULN (not elevated): 8x ULN is enough
        ("0.060", "0.080", True),  # elevated pre-PCI 0.060: 0.080 is a 33 % rise
        ("0.070", "0.084", False),  # elevated: exactly 20 % is not "more than 20 %"
        ("0.075", "0.080", False),  # elevated: a 7 % rise is an MI under way, not a periprocedural one
    ],
)
def test_an_elevated_pre_pci_value_needs_a_rise_of_more_than_the_protocol_percent(baseline, pre, peak, mi):
    data = _markers(ctn_uln=Decimal("0.010"), ctn_pre=Decimal(pre), ctn_peak=Decimal(peak), ckmb_measured=False, ckmb_uln=None, ckmb_pre=None, ckmb_peak=None)
    compute_perioperative(data, baseline)
    assert (data.mi_rise_percent, data.ctn_mi, data.periprocedural_mi) == (Decimal(20), mi, mi)


def test_results_show_each_multiple_rounded_and_the_mi_verdict(baseline):
    data = _markers(ckmb_uln=Decimal("1.000"), ckmb_peak=Decimal("5.040"))
    compute_perioperative(data, baseline)
    assert perioperative_results(data) == [
        ("Troponin (cTn)", "10.7 \u00d7 ULN"),
        ("CK-MB", "5.0 \u00d7 ULN (5.040, above 5.0)"),
        ("Periprocedural MI (either marker > 5.0 \u00d7 ULN; with an elevated pre-PCI value, a rise of more than 20 %)", "yes"),
    ]


def test_no_marker_means_no_mi_verdict(baseline):
    data = PerioperativeEventsData(ctn_measured=False, ckmb_measured=False)
    compute_perioperative(data, baseline)
    assert (data.ctn_uln_multiple, data.ckmb_uln_multiple, data.periprocedural_mi) == (None, None, None)
    assert perioperative_results(data)[:2] == [("Troponin (cTn)", "not measured"), ("CK-MB", "not measured")]


# -- qfr ------------------------------------------------------------------------------------


def test_angiography_must_lie_within_the_study(posted, context):
    form, valid = posted(QfrForm, {**EXAMPLES["qfr"], "angiography_date": "2025-12-31"}, context("precise-cal", "m12"))
    assert not valid
    assert form.angiography_date.errors == ["Angiography date: must not be before day 0 (2026-01-01)."]


@pytest.mark.parametrize(("qfr", "flagged"), [("0.80", True), ("0.81", False), ("0.50", True)])
def test_qfr_at_or_below_the_protocol_value_is_flagged(context, qfr, flagged):
    data = QfrData(angiography_date=date(2027, 1, 1), qfr_target_vessel=Decimal(qfr), restenosis=False)
    compute_qfr(data, context("precise-cal", "m12"))
    assert (data.qfr_threshold, data.qfr_at_or_below_threshold) == (Decimal("0.80"), flagged)
    assert qfr_results(data)[1] == ("QFR \u2264 0.80 (flagged)", "yes" if flagged else "no")
