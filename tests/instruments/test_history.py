"""Medical history form rules at form level."""

from __future__ import annotations

from forms.history import MedicalHistoryForm

#: A valid complete entry, as posted by a browser (first listed at DEFIER baseline).
EXAMPLES = {
    "medical_history": {
        "diabetes": "True",
        "diabetes_treatment": "oral",
        "hypertension": "True",
        "hyperlipidaemia": "False",
        "smoking": "former",
        "chronic_kidney_disease": "False",
        "coronary_artery_disease": "True",
        "prior_stroke": "False",
        "prior_amputation_target_limb": "False",
    },
}
HISTORY = EXAMPLES["medical_history"]


def test_the_example_is_valid(posted, context):
    form, valid = posted(MedicalHistoryForm, HISTORY, context("defier", "baseline"))
    assert valid, form.errors


def test_a_diabetic_patient_needs_a_treatment(posted, context):
    form, valid = posted(MedicalHistoryForm, {**HISTORY, "diabetes_treatment": ""}, context("leg-deb", "baseline"))
    assert not valid
    assert form.diabetes_treatment.errors == ["Diabetes treatment: required when the patient has diabetes."]


def test_no_treatment_without_diabetes(posted, context):
    form, valid = posted(MedicalHistoryForm, {**HISTORY, "diabetes": "False"}, context("leg-deb", "baseline"))
    assert not valid
    assert form.diabetes_treatment.errors == ["Diabetes treatment: leave empty when the patient has no diabetes."]
    form, valid = posted(MedicalHistoryForm, {**HISTORY, "diabetes": "False", "diabetes_treatment": ""}, context("leg-deb", "baseline"))
    assert valid, form.errors


def test_an_unknown_diabetes_status_needs_no_treatment(posted, context):
    values = {**HISTORY, "diabetes": "", "diabetes__missing": "unknown", "diabetes__reason": "no records", "diabetes_treatment": ""}
    form, valid = posted(MedicalHistoryForm, values, context("leg-deb", "baseline"))
    assert valid, form.errors


def test_every_answer_is_required_on_completing(posted, context):
    form, valid = posted(MedicalHistoryForm, {**HISTORY, "smoking": ""}, context("defier", "baseline"))
    assert not valid
    assert form.smoking.errors == ["Smoking: required; choose one of Never, Former, Current."]


def test_the_form_asks_no_identifying_data():
    names = MedicalHistoryForm.data_field_names()
    assert not [name for name in names if any(word in name for word in ("name", "birth", "dob", "initials"))]
