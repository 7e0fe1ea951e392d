"""Peripheral target lesion, procedure and stent fracture forms at form level; territory and PARC success from data rows."""

from __future__ import annotations

import pytest

from ecrf import scales
from ecrf.instruments.peripheral import (
    LesionPeripheralData,
    ProcedurePeripheralData,
    compute_lesion,
    compute_procedure,
    lesion_results,
    procedure_results,
)
from forms.peripheral import LesionPeripheralForm, ProcedurePeripheralForm, StentFractureForm

#: Valid complete entries, as posted by a browser (lesion and procedure at baseline, day 0 = 2026-01-01; stent
#: fracture at DEFIER m12, DES cohort, day 365 = 2027-01-01).
EXAMPLES = {
    "lesion_peripheral": {
        "side": "left",
        "segment": "sfa_mid",
        "lesion_length_mm": "120",
        "occluded": "False",
        "stenosis_pct": "80",
        "calcification": "moderate",
        "in_stent_restenosis": "True",
        "reference_diameter_mm": "5.5",
    },
    "procedure_peripheral": {
        "procedure_date": "2026-01-01",
        "device_predilatation": "y",
        "device_dcb": "y",
        "provisional_stent": "False",
        "residual_stenosis_pct": "20",
        "flow_limiting_dissection": "False",
        "technical_success": "True",
    },
    "stent_fracture": {"xray_date": "2027-01-01", "fracture": "True", "fracture_type": "II"},
}
LESION, PROCEDURE, FRACTURE = (EXAMPLES[code] for code in ("lesion_peripheral", "procedure_peripheral", "stent_fracture"))
#: A DCB procedure with a bail-out bare-metal stent for a dissection.
BAILOUT = {**PROCEDURE, "device_bms": "y", "provisional_stent": "True", "provisional_stent_reason": "flow_limiting_dissection"}


@pytest.fixture
def baseline(context):
    return context("defier", "baseline")


@pytest.mark.parametrize(
    ("form_class", "values", "visit", "arm"),
    [
        (LesionPeripheralForm, LESION, "baseline", None),
        (ProcedurePeripheralForm, PROCEDURE, "baseline", None),
        (StentFractureForm, FRACTURE, "m12", "des"),
    ],
)
def test_each_example_is_valid(posted, context, form_class, values, visit, arm):
    form, valid = posted(form_class, values, context("defier", visit, arm_code=arm))
    assert valid, form.errors


# -- target lesion ------------------------------------------------------------------------------------


def test_an_occlusion_must_be_entered_as_100_percent(posted, baseline):
    form, valid = posted(LesionPeripheralForm, {**LESION, "occluded": "True"}, baseline)
    assert not valid
    assert form.stenosis_pct.errors == ["Diameter stenosis (%): must be 100 for a total occlusion."]
    form, valid = posted(LesionPeripheralForm, {**LESION, "occluded": "True", "stenosis_pct": "100"}, baseline)
    assert valid, form.errors


def test_100_percent_without_an_occlusion_is_refused(posted, baseline):
    form, valid = posted(LesionPeripheralForm, {**LESION, "stenosis_pct": "100"}, baseline)
    assert not valid
    assert form.stenosis_pct.errors == ["Diameter stenosis (%): 100 % is a total occlusion; answer Total occlusion Yes, or enter at most 99."]


def test_lesion_length_is_limited_to_a_physiological_range_not_the_eligibility_limit(posted, baseline):
    form, valid = posted(LesionPeripheralForm, {**LESION, "lesion_length_mm": "350"}, baseline)
    assert form.lesion_length_mm.errors == []
    confirm = ["eligibility_lesion_length", "eligibility_lesion_over_30cm"]
    form, valid = posted(LesionPeripheralForm, {**LESION, "lesion_length_mm": "350", "confirm": confirm}, baseline)
    assert valid, form.errors
    form, valid = posted(LesionPeripheralForm, {**LESION, "lesion_length_mm": "501"}, baseline)
    assert form.lesion_length_mm.errors == ["Lesion length (mm): enter a whole number from 1 to 500 mm."]


@pytest.mark.parametrize(
    ("change", "codes"),
    [
        ({"lesion_length_mm": "301"}, ["eligibility_lesion_length", "eligibility_lesion_over_30cm"]),
        ({"stenosis_pct": "49"}, ["eligibility_isr_stenosis", "eligibility_stenosis_below_50"]),
        ({"lesion_length_mm": "300", "stenosis_pct": "50"}, []),
    ],
)
def test_a_defier_baseline_lesion_contradicting_eligibility_asks_for_confirmation(posted, baseline, context, change, codes):
    form, valid = posted(LesionPeripheralForm, {**LESION, **change}, baseline)
    assert [w.code for w in form.pending_warnings] == codes and valid is not codes
    if codes:
        assert "does not meet inclusion criterion" in form.pending_warnings[0].message
        assert posted(LesionPeripheralForm, {**LESION, **change, "confirm": codes}, baseline)[1]
    # LEG-DEB has no such eligibility rule
    assert posted(LesionPeripheralForm, {**LESION, **change}, context("leg-deb", "baseline"))[0].pending_warnings == []


def test_an_unknown_segment_is_refused(posted, baseline):
    form, valid = posted(LesionPeripheralForm, {**LESION, "segment": "iliac"}, baseline)
    assert not valid
    assert form.segment.errors[0].startswith("Target segment: choose one of SFA, proximal third, ")


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ("sfa_proximal", "femoropopliteal"),
        ("popliteal_p3", "femoropopliteal"),
        ("tibioperoneal_trunk", "below_knee"),
        ("peroneal", "below_knee"),
        (None, None),
    ],
)
def test_territory_ends_femoropopliteal_at_p3(context, segment, expected):
    data = LesionPeripheralData(segment=segment)
    compute_lesion(data, context("leg-deb", "baseline"))
    assert data.territory == expected


def test_the_lesion_shows_its_territory(context):
    data = LesionPeripheralData(segment="anterior_tibial")
    compute_lesion(data, context("leg-deb", "baseline"))
    assert lesion_results(data) == [("Territory", "Below the knee")]


# -- procedure ---------------------------------------------------------------------------------------------


def test_at_least_one_device_must_be_ticked(posted, baseline):
    values = {k: v for k, v in PROCEDURE.items() if not k.startswith("device_")}
    form, valid = posted(ProcedurePeripheralForm, values, baseline)
    assert not valid
    assert form.device_predilatation.errors == ["Devices used: tick at least one device."]
    form, valid = posted(ProcedurePeripheralForm, values, baseline, complete=False)
    assert valid, form.errors


def test_another_device_must_be_specified(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "device_other": "y"}, baseline)
    assert not valid
    assert form.device_other_specify.errors == ["Other device: specify: required when Other device is ticked."]
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "device_other_specify": "Laser"}, baseline)
    assert form.device_other_specify.errors == ["Other device: specify: leave empty unless Other device is ticked."]


def test_a_provisional_stent_needs_its_reason(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**BAILOUT, "provisional_stent_reason": ""}, baseline)
    assert not valid
    assert form.provisional_stent_reason.errors == ["Reason for the provisional stent: required when a provisional stent was placed."]
    form, valid = posted(ProcedurePeripheralForm, BAILOUT, baseline)
    assert valid, form.errors


def test_no_reason_without_a_provisional_stent(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "provisional_stent_reason": "residual_stenosis"}, baseline)
    assert not valid
    assert form.provisional_stent_reason.errors == ["Reason for the provisional stent: leave empty when no provisional stent was placed."]


def test_another_reason_must_be_specified(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**BAILOUT, "provisional_stent_reason": "other"}, baseline)
    assert not valid
    assert form.provisional_stent_reason_other.errors == ["Other reason for the provisional stent: specify: required when the reason is Other."]


def test_a_provisional_stent_must_be_ticked_among_the_devices(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**BAILOUT, "device_bms": ""}, baseline)
    assert not valid
    assert form.provisional_stent.errors == ["Provisional stent placed: also tick the stent used (drug-eluting or bare-metal) under Devices used."]


def test_the_procedure_date_must_lie_in_the_study(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "procedure_date": "2027-06-02"}, baseline)
    assert not valid
    assert form.procedure_date.errors == ["Procedure date: must not be after today at the site (2027-06-01)."]


def test_a_procedure_date_other_than_day_0_must_be_confirmed(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "procedure_date": "2026-01-02"}, baseline)
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "Procedure date 2026-01-02 is not day 0 (2026-01-01, the subject's procedure date): confirm, or have day 0 corrected."
    ]


def test_a_technical_success_that_differs_from_parc_must_be_confirmed(posted, baseline):
    values = {**BAILOUT, "residual_stenosis_pct": "40"}  # a stent: PARC allows at most 30 %
    form, valid = posted(ProcedurePeripheralForm, values, baseline)
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "Technical success is Yes, but by PARC (residual stenosis at most 30 % after a stent, no flow-limiting dissection) it is No: confirm the judgement."
    ]
    form, valid = posted(ProcedurePeripheralForm, {**values, "confirm": "technical_success_differs"}, baseline)
    assert valid, form.errors


def test_technical_success_agreeing_with_parc_needs_no_confirmation(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "residual_stenosis_pct": "50"}, baseline)  # no stent: <= 50 %
    assert valid, form.errors


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"residual_stenosis_pct": 50, "flow_limiting_dissection": False}, True),
        ({"residual_stenosis_pct": 51, "flow_limiting_dissection": False}, False),
        ({"residual_stenosis_pct": 30, "flow_limiting_dissection": False, "device_bms": True}, True),
        ({"residual_stenosis_pct": 31, "flow_limiting_dissection": False, "device_des": True}, False),
        ({"residual_stenosis_pct": 0, "flow_limiting_dissection": True}, False),
        ({"residual_stenosis_pct": None, "flow_limiting_dissection": False}, None),
    ],
)
def test_compute_judges_technical_success_by_parc(context, values, expected):
    data = ProcedurePeripheralData(**values)
    compute_procedure(data, context("defier", "baseline"))
    assert data.technical_success_parc is expected


def test_the_procedure_shows_both_judgements(context):
    data = ProcedurePeripheralData(residual_stenosis_pct=10, flow_limiting_dissection=False, technical_success=True)
    compute_procedure(data, context("defier", "baseline"))
    assert procedure_results(data) == [("Technical success (PARC)", "yes"), ("Technical success (investigator)", "yes")]


@pytest.mark.parametrize(
    ("residual", "stented", "dissection", "expected"),
    [
        (50, False, False, True),
        (51, False, False, False),
        (30, True, False, True),
        (31, True, False, False),
        (0, True, True, False),
    ],
)
def test_parc_technical_success_band_edges(residual, stented, dissection, expected):
    assert scales.parc_technical_success(residual, stented, dissection) is expected


def test_parc_technical_success_rejects_impossible_values():
    with pytest.raises(ValueError, match="residual_stenosis_pct: 101 is out of range 0-100"):
        scales.parc_technical_success(101, False, False)
    with pytest.raises(ValueError, match="stented: must be True or False"):
        scales.parc_technical_success(20, None, False)


# -- stent fracture -----------------------------------------------------------------------------------------------


@pytest.fixture
def m12(context):
    return context("defier", "m12", arm_code="des")


def test_a_fracture_needs_its_type(posted, m12):
    form, valid = posted(StentFractureForm, {**FRACTURE, "fracture_type": ""}, m12)
    assert not valid
    assert form.fracture_type.errors == ["Fracture type: required when there is a stent fracture."]


def test_no_type_without_a_fracture(posted, m12):
    form, valid = posted(StentFractureForm, {**FRACTURE, "fracture": "False"}, m12)
    assert not valid
    assert form.fracture_type.errors == ["Fracture type: leave empty when there is no stent fracture."]
    form, valid = posted(StentFractureForm, {**FRACTURE, "fracture": "False", "fracture_type": ""}, m12)
    assert valid, form.errors


def test_an_x_ray_outside_the_visit_window_must_be_confirmed(posted, m12):
    form, valid = posted(StentFractureForm, {**FRACTURE, "xray_date": "2027-02-05"}, m12)  # window ends 2027-01-31
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "X-ray date: 2027-02-05 is outside the 12 months window (2026-12-02 to 2027-01-31): confirm the date."
    ]


def test_a_percentage_out_of_range_names_the_field_and_the_range(posted, baseline):
    form, valid = posted(ProcedurePeripheralForm, {**PROCEDURE, "residual_stenosis_pct": "101"}, baseline)
    assert not valid
    assert form.residual_stenosis_pct.errors == ["Residual stenosis after the procedure (%): enter a whole number from 0 to 100 %."]
    form, valid = posted(LesionPeripheralForm, {**LESION, "stenosis_pct": "0"}, baseline)
    assert form.stenosis_pct.errors == ["Diameter stenosis (%): enter a whole number from 1 to 100 %."]
