"""ANGEL-ICAS stroke forms: thrombectomy with rescue treatment, 48-hour safety imaging and sICH."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ecrf.instruments.stroke import ImagingIchData, compute_imaging, imaging_results
from forms.stroke import ImagingIchForm, ProcedureStrokeForm, heidelberg_symptomatic

#: Valid complete entries, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "procedure_stroke": {
        "last_known_well": "2026-01-01T02:30",
        "occlusion_site": "mca_m1",
        "residual_stenosis_pct": "70",
        "rescue_treatment": "stent",
        "reperfusion_etici": "2b",
    },
    "imaging_ich": {"imaging_datetime": "2026-01-02T09:00", "modality": "ct", "ich_present": "False"},
}
ICH = {**EXAMPLES["imaging_ich"], "ich_present": "True", "heidelberg_class": "2", "symptomatic": "True", "nihss_increase": "5"}


#: Randomization at 06:00 on day 0 in Shanghai.
RANDOMIZED = datetime(2025, 12, 31, 22, 0, tzinfo=UTC)


@pytest.fixture
def baseline(context):
    return context("angel-icas", "baseline", index_at=RANDOMIZED)


@pytest.fixture
def h48(context):
    return context("angel-icas", "h48", index_at=RANDOMIZED)


def test_each_example_is_valid_and_needs_no_confirmation(posted, baseline, h48):
    for form_class, code, ctx in ((ProcedureStrokeForm, "procedure_stroke", baseline), (ImagingIchForm, "imaging_ich", h48)):
        form, valid = posted(form_class, EXAMPLES[code], ctx)
        assert valid, (code, form.errors, form.form_errors)
        assert form.pending_warnings == []


# -- procedure_stroke ----------------------------------------------------------------------


def test_last_known_well_cannot_be_after_randomization(posted, baseline):
    form, valid = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "last_known_well": "2026-01-01T06:01"}, baseline)
    assert not valid
    assert form.last_known_well.errors == ["Last known well: must be before randomization (2026-01-01 06:00:00 at the site)."]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "9999-12-31T23:59"])
def test_last_known_well_at_the_ends_of_the_calendar_is_refused_not_a_crash(posted, baseline, moment):
    form, valid = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "last_known_well": moment}, baseline)
    assert not valid and form.last_known_well.errors == ["Last known well: the year must be between 1900 and 2100."]


def test_randomization_more_than_24_hours_after_last_known_well_must_be_confirmed(posted, baseline):
    values = {**EXAMPLES["procedure_stroke"], "last_known_well": "2025-12-31T05:00"}
    form, valid = posted(ProcedureStrokeForm, values, baseline)
    assert not valid and not form.last_known_well.errors
    assert [(w.code, w.message) for w in form.pending_warnings] == [
        (
            "last_known_well_hours",
            "Randomization was 25.0 hours after last known well, more than the 24 hours the protocol allows: "
            "confirm both times, and tell the monitor if the subject was not eligible.",
        )
    ]
    _, confirmed = posted(ProcedureStrokeForm, {**values, "confirm": "last_known_well_hours"}, baseline)
    assert confirmed


def test_hours_since_last_known_well_are_real_hours_across_a_clock_change(posted, context):
    # New York leaves daylight saving time on 2026-11-01: 00:30 to 00:30 the next day is 25 real hours.
    randomized = datetime(2026, 11, 2, 5, 30, tzinfo=UTC)  # 00:30 in New York
    ctx = context("angel-icas", "baseline", index_date=date(2026, 11, 2), timezone="America/New_York", index_at=randomized)
    form, _ = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "last_known_well": "2026-11-01T00:30"}, ctx)
    assert [w.message.split(",")[0] for w in form.pending_warnings] == ["Randomization was 25.0 hours after last known well"]


def test_residual_stenosis_below_the_gate_must_be_confirmed(posted, baseline):
    form, _ = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "residual_stenosis_pct": "49"}, baseline)
    assert [w.message for w in form.pending_warnings] == [
        "Residual stenosis after thrombectomy (%) 49 does not meet inclusion criterion \u201c9. Residual stenosis \u226550% with "
        "planned angioplasty/stenting\u201d: confirm the value, and tell the monitor if the subject was not eligible."
    ]
    form, _ = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "residual_stenosis_pct": "50"}, baseline)
    assert form.pending_warnings == []


def test_rescue_not_performed_needs_a_reason_and_only_then(posted, baseline):
    form, valid = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "rescue_treatment": "none"}, baseline)
    assert form.rescue_not_performed_reason.errors == ["Rescue treatment: reason not performed: required when no rescue treatment was performed."]
    form, valid = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "rescue_not_performed_reason": "Re-occlusion"}, baseline)
    assert form.rescue_not_performed_reason.errors == ["Rescue treatment: reason not performed: leave empty when a rescue treatment was performed."]


@pytest.mark.parametrize("value", ["101", ":"])
def test_residual_stenosis_out_of_range_or_not_a_number_is_refused(posted, baseline, value):
    form, valid = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "residual_stenosis_pct": value}, baseline)
    assert not valid
    assert form.residual_stenosis_pct.errors[0].startswith("Residual stenosis after thrombectomy (%): ")
    assert "a whole number from 0 to 100 %" in form.residual_stenosis_pct.errors[0]


def test_reperfusion_grade_takes_etici_codes_only(posted, baseline):
    form, valid = posted(ProcedureStrokeForm, {**EXAMPLES["procedure_stroke"], "reperfusion_etici": "2"}, baseline)
    assert not valid
    assert form.reperfusion_etici.errors == ["Final reperfusion grade (eTICI): choose one of 0, 1, 2a, 2b, 2c, 3."]


# -- imaging_ich ------------------------------------------------------------------------------


def test_a_haemorrhage_needs_class_symptoms_and_nihss_increase(posted, h48):
    form, valid = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "ich_present": "True"}, h48)
    assert not valid
    assert form.heidelberg_class.errors == ["Heidelberg classification: required when a haemorrhage is present."]
    assert form.symptomatic.errors == ["Symptomatic haemorrhage (investigator): required when a haemorrhage is present."]
    assert form.nihss_increase.errors == ["NIHSS increase (points): required when a haemorrhage is present."]
    form, valid = posted(ImagingIchForm, ICH, h48)
    assert valid, form.errors


def test_no_haemorrhage_means_no_classification(posted, h48):
    form, valid = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "heidelberg_class": "1a"}, h48)
    assert not valid
    assert form.heidelberg_class.errors == ["Heidelberg classification: leave empty when no haemorrhage is present."]


def test_imaging_must_lie_within_the_study(posted, h48):
    form, valid = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "imaging_datetime": "2025-12-31T23:00"}, h48)
    assert not valid
    assert form.imaging_datetime.errors == ["Imaging date and time: must not be before day 0 (2026-01-01)."]


def test_imaging_later_than_48_hours_after_randomization_says_so(posted, h48):
    form, _ = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "imaging_datetime": "2026-01-04T08:00"}, h48)
    assert [w.message for w in form.pending_warnings] == [
        "Imaging date and time: more than 48 hours after randomization (2026-01-01 06:00:00 at the site); confirm the date and time."
    ]


def test_site_symptomatic_below_the_nihss_threshold_must_be_confirmed(posted, h48):
    form, valid = posted(ImagingIchForm, {**ICH, "nihss_increase": "3"}, h48)
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "Symptomatic haemorrhage (investigator): answered yes, but the NIHSS increase of 3 points is below the Heidelberg "
        "threshold of 4; confirm another Heidelberg criterion applies (2 or more points in one item, or a major intervention)."
    ]
    _, confirmed = posted(ImagingIchForm, {**ICH, "nihss_increase": "3", "confirm": "symptomatic_disagrees"}, h48)
    assert confirmed


def test_site_asymptomatic_at_the_nihss_threshold_must_be_confirmed(posted, h48):
    form, _ = posted(ImagingIchForm, {**ICH, "symptomatic": "False", "nihss_increase": "4"}, h48)
    assert [w.code for w in form.pending_warnings] == ["symptomatic_disagrees"]
    assert "is at or above the Heidelberg threshold of 4" in form.pending_warnings[0].message


@pytest.mark.parametrize(("present", "increase", "expected"), [(True, 4, True), (True, 3, False), (False, None, False), (True, None, None), (None, 6, None)])
def test_heidelberg_nihss_criterion_is_an_increase_of_at_least_4(h48, present, increase, expected):
    assert heidelberg_symptomatic(present, increase) is expected
    data = ImagingIchData(ich_present=present, nihss_increase=increase)
    compute_imaging(data, h48)
    assert data.symptomatic_heidelberg is expected


def test_results_show_computed_and_investigator_sich(h48):
    data = ImagingIchData(ich_present=True, heidelberg_class="2", symptomatic=False, nihss_increase=4)
    compute_imaging(data, h48)
    assert imaging_results(data) == [("sICH, Heidelberg NIHSS criterion (increase \u2265 4)", "yes"), ("Symptomatic (investigator)", "no")]


@pytest.mark.parametrize(("moment", "late"), [("2026-01-03T06:00", False), ("2026-01-03T06:01", True)])
def test_imaging_more_than_48_hours_after_randomization_must_be_confirmed(posted, h48, moment, late):
    form, _ = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "imaging_datetime": moment}, h48)
    assert [w.code for w in form.pending_warnings] == (["imaging_late"] if late else [])


def test_imaging_before_the_randomization_second_says_it_does_not_count(posted, context):
    h48 = context("angel-icas", "h48", index_at=RANDOMIZED.replace(second=40))  # 06:00:40 at the site
    form, _ = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "imaging_datetime": "2026-01-01T06:00"}, h48)
    assert [w.message for w in form.pending_warnings] == [
        "Imaging date and time: before randomization (2026-01-01 06:00:40 at the site), so it does not count for the 48-hour "
        "sICH endpoint (a haemorrhage then is exclusion 1); confirm the date and time."
    ]
    form, _ = posted(ImagingIchForm, {**EXAMPLES["imaging_ich"], "imaging_datetime": "2026-01-01T06:01"}, h48)
    assert form.pending_warnings == []


def test_the_imaging_form_is_a_list_of_scans_each_described_in_a_line():
    from ecrf.crfs.registry import instrument

    assert instrument("imaging_ich").repeating
    data = ImagingIchData(
        imaging_datetime=datetime(2026, 1, 2, 1, 0, tzinfo=UTC), modality="ct", ich_present=True, heidelberg_class="2", symptomatic=True, nihss_increase=5
    )
    assert instrument("imaging_ich").describe(data) == "CT 2026-01-02 01:00 UTC, haemorrhage, Heidelberg 2, symptomatic"
