"""mRS form: pre-stroke at day 0 (no outcome questions), outcome with method and blinding later; independence."""

from __future__ import annotations

import pytest

from ecrf.instruments.mrs import MrsData, compute, results
from forms.mrs import MrsForm

#: A valid complete entry, as posted by a browser (used by the generic instrument tests). The first
#: visit listing mrs is ANGEL-ICAS baseline, where it is the pre-stroke mRS: only the score is asked.
EXAMPLES = {
    "mrs": {"score": "1"},
}
OUTCOME = {"score": "2", "method": "telephone", "assessor_blinded": "True"}


def test_the_example_is_valid(posted, context):
    form, valid = posted(MrsForm, EXAMPLES["mrs"], context("angel-icas", "baseline"))
    assert valid, form.errors


def test_at_day_0_it_is_the_pre_stroke_mrs_without_outcome_questions(posted, context):
    form, valid = posted(MrsForm, EXAMPLES["mrs"], context("angel-icas", "baseline"))
    assert valid
    assert form.score.label.text == "Pre-stroke mRS"
    assert [f.name for f in form.data_fields()] == ["score"]
    assert "method__missing" not in form and "assessor_blinded__reason" not in form


def test_at_day_0_posted_outcome_answers_are_ignored(posted, context):
    form, valid = posted(MrsForm, {**EXAMPLES["mrs"], "method": "in_person", "assessor_blinded": "False"}, context("angel-icas", "baseline"))
    assert valid and form.pending_warnings == []
    assert form.missing_map() == {}


def test_a_pre_stroke_mrs_cannot_be_dead(posted, context):
    form, valid = posted(MrsForm, {"score": "6"}, context("angel-icas", "baseline"), complete=False)
    assert not valid
    assert form.score.errors == ["Pre-stroke mRS: choose a grade from 0 to 5."]


def test_the_score_is_required_to_complete_naming_the_visit_s_label(posted, context):
    form, valid = posted(MrsForm, {}, context("angel-icas", "baseline"))
    assert not valid
    assert form.score.errors == ["Pre-stroke mRS: required to save as complete."]
    form, _ = posted(MrsForm, {"method": "telephone", "assessor_blinded": "True"}, context("angel-icas", "d90"))
    assert form.score.errors == ["mRS score: required to save as complete."]
    assert posted(MrsForm, {}, context("angel-icas", "d90"), complete=False)[1]


def test_options_carry_the_standard_wording(posted, context):
    form, _ = posted(MrsForm, OUTCOME, context("angel-icas", "d90"))
    labels = [option.label.text for option in form.score]
    assert labels[3] == "3 — Moderate disability; requiring some help, but able to walk without assistance"
    assert labels[-1] == "6 — Dead"


def test_at_day_0_a_pre_stroke_mrs_above_the_inclusion_range_must_be_confirmed(posted, context):
    form, valid = posted(MrsForm, {"score": "3"}, context("angel-icas", "baseline"))
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "Pre-stroke mRS 3 does not meet inclusion criterion “2. Pre-stroke modified Rankin Scale (mRS) score of 0-1”: "
        "confirm the value, and tell the monitor if the subject was not eligible."
    ]
    assert posted(MrsForm, {"score": "3", "confirm": "eligibility_prestroke_mrs"}, context("angel-icas", "baseline"))[1]


def test_the_outcome_needs_the_method_and_the_blinding(posted, context):
    form, valid = posted(MrsForm, {"score": "2"}, context("angel-icas", "d90"))
    assert not valid
    assert form.method.errors == ["How the mRS was obtained: required; choose one of In person, Telephone."]
    assert form.assessor_blinded.errors == ["Assessor blinded to the treatment arm: required; choose one of Yes, No."]
    assert posted(MrsForm, OUTCOME, context("angel-icas", "d90"))[1]


def test_an_outcome_by_an_unblinded_assessor_must_be_confirmed(posted, context):
    unblinded = {**OUTCOME, "assessor_blinded": "False"}
    form, valid = posted(MrsForm, unblinded, context("angel-icas", "d90"))
    assert not valid
    assert [w.code for w in form.pending_warnings] == ["assessor_not_blinded"]
    assert posted(MrsForm, {**unblinded, "confirm": "assessor_not_blinded"}, context("angel-icas", "d90"))[1]


def test_a_death_may_leave_the_method_not_applicable_with_a_reason(posted, context):
    dead = {"score": "6", "method__missing": "not_applicable", "method__reason": "death confirmed from hospital records", "assessor_blinded": "True"}
    form, valid = posted(MrsForm, dead, context("angel-icas", "d90"))
    assert valid, form.errors


def test_compute_marks_the_pre_stroke_mrs_and_gives_no_independence_for_it(context):
    data = MrsData(score=1)
    compute(data, context("angel-icas", "baseline"))
    assert (data.prestroke, data.independent) == (True, None)
    assert results(data) == [("Pre-stroke mRS", "1 — No significant disability despite symptoms; able to carry out all usual duties and activities")]


@pytest.mark.parametrize(("score", "independent"), [(0, True), (2, True), (3, False), (6, False)])
def test_compute_gives_functional_independence_for_the_outcome(context, score, independent):
    data = MrsData(score=score, method="in_person", assessor_blinded=True)
    compute(data, context("angel-icas", "d90"))
    assert (data.prestroke, data.independent) == (False, independent)
    assert results(data)[1] == ("Functional independence (mRS 0–2)", "Yes" if independent else "No")


def test_compute_without_a_score_leaves_independence_empty(context):
    data = MrsData()
    compute(data, context("angel-icas", "d90"))
    assert data.independent is None
    assert results(data) == [("mRS", "not entered")]
