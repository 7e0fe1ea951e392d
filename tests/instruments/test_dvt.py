"""DEFIANCE DVT forms: presentation and treatment at baseline, anticoagulation status at each visit."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from ecrf.instruments.dvt import ProcedureDvtData, compute_procedure, procedure_results
from forms.dvt import AnticoagulationForm, ProcedureDvtForm

#: Valid complete entries, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "procedure_dvt": {
        "affected_leg": "left",
        "thrombus_common_iliac": "y",
        "thrombus_external_iliac": "y",
        "thrombus_common_femoral": "y",
        "symptom_onset_date": "2025-12-20",
        "anticoagulant": "lmwh",
        "anticoagulant_start_date": "2025-12-22",
        "thrombectomy_performed": "True",
        "thrombectomy_date": "2026-01-01",
    },
    "anticoagulation": {"anticoagulated": "True", "agent": "rivaroxaban"},
}
FOLLOW_UP = {"anticoagulated": "True", "agent": "apixaban", "changed": "False", "bleeding": "False"}


@pytest.fixture
def baseline(context):
    return context("defiance", "baseline")


@pytest.fixture
def d30(context):
    return context("defiance", "d30")


def test_each_example_is_valid_and_needs_no_confirmation(posted, baseline):
    for form_class, code in ((ProcedureDvtForm, "procedure_dvt"), (AnticoagulationForm, "anticoagulation")):
        form, valid = posted(form_class, EXAMPLES[code], baseline)
        assert valid, (code, form.errors, form.form_errors)
        assert form.pending_warnings == []


# -- procedure_dvt ----------------------------------------------------------------------------


def test_a_dvt_without_common_femoral_or_iliac_involvement_is_refused(posted, baseline):
    segments = {"thrombus_common_iliac", "thrombus_external_iliac", "thrombus_common_femoral"}
    values = {k: v for k, v in EXAMPLES["procedure_dvt"].items() if k not in segments}
    form, valid = posted(ProcedureDvtForm, {**values, "thrombus_femoral": "y", "thrombus_popliteal": "y"}, baseline)
    assert not valid
    assert form.thrombus_ivc.errors == [
        "Thrombus segments: tick at least one of common iliac, external iliac or common femoral vein; "
        "the inclusion criterion requires a DVT involving at least one of them."
    ]
    _, valid = posted(ProcedureDvtForm, {**values, "thrombus_common_femoral": "y"}, baseline)
    assert valid


@pytest.mark.parametrize(
    ("onset", "error", "warned"),
    [
        ("2025-10-09", None, False),  # 84 days before day 0
        ("2025-10-08", None, True),  # 85 days: a true onset date, kept, but it contradicts inclusion (symptom onset <= 84 days)
        ("2026-01-02", "Symptom onset date: must not be after day 0 (2026-01-01).", False),
    ],
)
def test_symptom_onset_beyond_12_weeks_before_day_0_is_a_warning_to_confirm_not_a_refusal(posted, baseline, onset, error, warned):
    values = {**EXAMPLES["procedure_dvt"], "symptom_onset_date": onset, "anticoagulant_start_date": "2026-01-01"}
    form, valid = posted(ProcedureDvtForm, values, baseline)
    assert form.symptom_onset_date.errors == ([error] if error else [])
    assert [w.code for w in form.pending_warnings] == (["eligibility_symptom_onset"] if warned else [])
    if warned:
        assert not valid
        assert form.pending_warnings[0].field == "symptom_onset_date"
        assert form.pending_warnings[0].message.startswith(
            "Days from symptom onset to day 0 85 does not meet inclusion criterion \u201cSymptom onset within 12 weeks of enrollment in the study\u201d"
        )
        _, confirmed = posted(ProcedureDvtForm, {**values, "confirm": "eligibility_symptom_onset"}, baseline)
        assert confirmed
        _, draft = posted(ProcedureDvtForm, values, baseline, complete=False)
        assert draft


def test_the_onset_warning_follows_the_protocol_rule(posted, baseline):
    protocol = baseline.protocol
    inclusion = [
        c.model_copy(update={"rule": c.rule.model_copy(update={"op": "<", "value": Decimal(90)})}) if c.code == "symptom_onset" else c
        for c in protocol.eligibility.inclusion
    ]
    wider = replace(baseline, protocol=protocol.model_copy(update={"eligibility": protocol.eligibility.model_copy(update={"inclusion": inclusion})}))
    values = {**EXAMPLES["procedure_dvt"], "symptom_onset_date": "2025-10-04", "anticoagulant_start_date": "2026-01-01"}  # 89 days
    assert posted(ProcedureDvtForm, values, wider)[1]
    assert not posted(ProcedureDvtForm, values, baseline)[1]


def test_anticoagulant_at_baseline_cannot_start_after_day_0(posted, baseline):
    form, valid = posted(ProcedureDvtForm, {**EXAMPLES["procedure_dvt"], "anticoagulant_start_date": "2026-01-02"}, baseline)
    assert not valid
    assert form.anticoagulant_start_date.errors == [
        "Anticoagulant start date: must not be after day 0 (2026-01-01); record the anticoagulant taken at baseline."
    ]


def test_other_anticoagulant_must_be_specified(posted, baseline):
    form, valid = posted(ProcedureDvtForm, {**EXAMPLES["procedure_dvt"], "anticoagulant": "other"}, baseline)
    assert form.anticoagulant_other.errors == ["Anticoagulant: specify other: required when the answer is Other."]
    _, valid = posted(ProcedureDvtForm, {**EXAMPLES["procedure_dvt"], "anticoagulant": "other", "anticoagulant_other": "Fondaparinux"}, baseline)
    assert valid


def test_thrombectomy_date_goes_with_a_thrombectomy(posted, baseline):
    values = {k: v for k, v in EXAMPLES["procedure_dvt"].items() if k != "thrombectomy_date"}
    form, valid = posted(ProcedureDvtForm, values, baseline)
    assert form.thrombectomy_date.errors == ["Thrombectomy date: required when a thrombectomy was performed."]
    form, valid = posted(ProcedureDvtForm, {**EXAMPLES["procedure_dvt"], "thrombectomy_performed": "False"}, baseline)
    assert form.thrombectomy_date.errors == ["Thrombectomy date: leave empty when no thrombectomy was performed."]
    _, valid = posted(ProcedureDvtForm, {**values, "thrombectomy_performed": "False"}, baseline)
    assert valid
    form, valid = posted(ProcedureDvtForm, {**EXAMPLES["procedure_dvt"], "thrombectomy_date": "2025-12-31"}, baseline)
    assert form.thrombectomy_date.errors == ["Thrombectomy date: must not be before day 0 (2026-01-01)."]


def test_ivc_thrombus_and_anticoagulant_before_onset_must_be_confirmed(posted, baseline):
    values = {**EXAMPLES["procedure_dvt"], "thrombus_ivc": "y", "anticoagulant_start_date": "2025-12-01"}
    form, valid = posted(ProcedureDvtForm, values, baseline)
    assert not valid
    assert [w.code for w in form.pending_warnings] == ["ivc_thrombus", "anticoagulant_before_onset"]
    assert form.pending_warnings[0].message == (
        "Inferior vena cava: thrombus extending more than 2 cm into the IVC from the common iliac vein excludes the subject "
        "(clot in transit); confirm it extends 2 cm or less."
    )
    _, confirmed = posted(ProcedureDvtForm, {**values, "confirm": ["ivc_thrombus", "anticoagulant_before_onset"]}, baseline)
    assert confirmed


def test_compute_counts_days_from_onset_to_day_0(baseline):
    data = ProcedureDvtData(symptom_onset_date=date(2025, 12, 20))
    compute_procedure(data, baseline)
    assert data.symptom_onset_days == 12
    assert procedure_results(data) == [("Symptom onset to day 0", "12 days")]


# -- anticoagulation ------------------------------------------------------------------------


def test_agent_goes_with_anticoagulation(posted, baseline):
    form, valid = posted(AnticoagulationForm, {"anticoagulated": "True"}, baseline)
    assert form.agent.errors == ["Anticoagulant: required when the subject is anticoagulated."]
    form, valid = posted(AnticoagulationForm, {"anticoagulated": "False", "agent": "warfarin"}, baseline)
    assert form.agent.errors == ["Anticoagulant: leave empty when the subject is not anticoagulated."]
    _, valid = posted(AnticoagulationForm, {"anticoagulated": "False"}, baseline)
    assert valid


def test_change_and_bleeding_are_not_asked_at_baseline(posted, baseline):
    form, valid = posted(AnticoagulationForm, FOLLOW_UP, baseline)
    assert not valid
    assert form.changed.errors == ["Anticoagulation changed since the last visit: leave empty at baseline (there is no previous visit)."]
    assert form.bleeding.errors == ["Bleeding since the last visit: leave empty at baseline (there is no previous visit)."]


def test_change_and_bleeding_are_required_at_follow_up(posted, d30):
    form, valid = posted(AnticoagulationForm, EXAMPLES["anticoagulation"], d30)
    assert not valid
    assert form.changed.errors == ["Anticoagulation changed since the last visit: required at follow-up visits."]
    assert form.bleeding.errors == ["Bleeding since the last visit: required at follow-up visits."]
    _, valid = posted(AnticoagulationForm, FOLLOW_UP, d30)
    assert valid


def test_a_change_needs_a_reason(posted, d30):
    form, valid = posted(AnticoagulationForm, {**FOLLOW_UP, "changed": "True"}, d30)
    assert form.change_reason.errors == ["Reason for the change: required when anticoagulation changed."]
    form, valid = posted(AnticoagulationForm, {**FOLLOW_UP, "change_reason": "Switched"}, d30)
    assert form.change_reason.errors == ["Reason for the change: leave empty unless anticoagulation changed."]
    _, valid = posted(AnticoagulationForm, {**FOLLOW_UP, "changed": "True", "change_reason": "Switched from LMWH to apixaban"}, d30)
    assert valid


def test_a_draft_may_leave_questions_open(posted, d30):
    _, valid = posted(AnticoagulationForm, {"anticoagulated": "True"}, d30, complete=False)
    assert valid
