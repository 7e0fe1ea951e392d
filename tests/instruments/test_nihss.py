"""NIHSS form (items, untestable ticks, explanation, warnings) and total; ASPECTS / pc-ASPECTS form and results."""

from __future__ import annotations

import pytest

from ecrf import scales
from ecrf.instruments.nihss import AspectsData, NihssData, aspects_results, compute, results
from forms.nihss import AspectsForm, NihssForm

#: Valid complete entries, as posted by a browser (used by the generic instrument tests). The first
#: visit listing both is ANGEL-ICAS baseline, whose inclusion needs NIHSS >= 6 and (pc-)ASPECTS >= 6.
EXAMPLES = {
    "nihss": {
        "item_1a": "0",
        "item_1b": "1",
        "item_1c": "0",
        "item_2": "1",
        "item_3": "0",
        "item_4": "2",
        "item_5a": "0",
        "item_5b": "3",
        "item_6a": "0",
        "item_6b": "2",
        "item_7": "0",
        "item_8": "1",
        "item_9": "1",
        "item_10": "1",
        "item_11": "0",
    },
    "aspects": {"circulation": "anterior", "score": "8"},
}
EXAMPLE_TOTAL = 12


def baseline(context):
    return context("angel-icas", "baseline")


def test_the_nihss_example_is_valid(posted, context):
    form, valid = posted(NihssForm, EXAMPLES["nihss"], baseline(context))
    assert valid, form.errors


def test_the_aspects_example_is_valid(posted, context):
    form, valid = posted(AspectsForm, EXAMPLES["aspects"], baseline(context))
    assert valid, form.errors


def test_the_form_has_the_15_items_in_order_and_untestable_ticks_for_exactly_5a_5b_6a_6b_7_10():
    names = NihssForm.data_field_names()
    assert [n for n in names if n.startswith("item_") and not n.endswith("_untestable")] == [f"item_{code}" for code in scales.NIHSS_ITEMS]
    assert [n for n in names if n.endswith("_untestable")] == [f"item_{code}_untestable" for code in ("5a", "5b", "6a", "6b", "7", "10")]


def test_each_item_has_its_own_range_and_ninds_wording(posted, context):
    form, _ = posted(NihssForm, EXAMPLES["nihss"], baseline(context))
    assert [len(list(form[f"item_{code}"])) for code in scales.NIHSS_ITEMS] == [highest + 1 for highest, _ in scales.NIHSS_ITEMS.values()]
    assert [option.label.text for option in form.item_9][3] == "3 — Mute, global aphasia; no usable speech or auditory comprehension"


def test_a_score_above_the_item_range_is_refused(posted, context):
    form, valid = posted(NihssForm, {**EXAMPLES["nihss"], "item_1b": "3"}, baseline(context), complete=False)
    assert not valid
    assert form.item_1b.errors == ["1b. LOC questions (month, age): choose a grade from 0 to 2."]


def test_an_item_that_cannot_be_untestable_is_required(posted, context):
    form, valid = posted(NihssForm, {**EXAMPLES["nihss"], "item_9": None}, baseline(context))
    assert not valid
    assert form.item_9.errors == ["9. Best language: required; choose a grade from 0 to 3."]


def test_a_testable_item_needs_a_score_to_complete(posted, context):
    values = {**EXAMPLES["nihss"], "item_7": None}
    form, valid = posted(NihssForm, values, baseline(context))
    assert not valid
    assert form.item_7.errors == ["7. Limb ataxia: required unless the item is marked untestable."]
    assert posted(NihssForm, values, baseline(context), complete=False)[1]


def test_an_untestable_item_must_have_no_score_to_complete_but_a_draft_keeps_both(posted, context):
    values = {**EXAMPLES["nihss"], "item_5b_untestable": "y", "untestable_explanation": "right arm amputated"}
    form, valid = posted(NihssForm, values, baseline(context))
    assert not valid
    assert form.item_5b.errors == [
        "5b. Motor arm, right: leave the score empty when the item is marked untestable (choose \u201cclear\u201d, or untick Untestable)."
    ]
    form, valid = posted(NihssForm, values, baseline(context), complete=False)
    assert valid, form.errors


def test_a_draft_with_an_explanation_but_no_untestable_item_is_kept(posted, context):
    form, valid = posted(NihssForm, {**EXAMPLES["nihss"], "untestable_explanation": "intubated"}, baseline(context), complete=False)
    assert valid, form.errors


def test_a_cleared_score_posts_no_answer(posted, context):
    form, valid = posted(NihssForm, {**EXAMPLES["nihss"], "item_7": ""}, baseline(context), complete=False)
    assert valid, form.errors
    assert form.value("item_7") is None
    form, valid = posted(NihssForm, {**EXAMPLES["nihss"], "item_7": ""}, baseline(context))
    assert form.item_7.errors == ["7. Limb ataxia: required unless the item is marked untestable."]


def test_untestable_items_need_an_explanation_and_only_they(posted, context):
    untestable = {**EXAMPLES["nihss"], "item_10": None, "item_10_untestable": "y"}
    form, valid = posted(NihssForm, untestable, baseline(context))
    assert not valid
    assert form.untestable_explanation.errors == ["Untestable items: explanation: required when an item is marked untestable."]
    assert posted(NihssForm, {**untestable, "untestable_explanation": "intubated"}, baseline(context))[1]
    form, valid = posted(NihssForm, {**EXAMPLES["nihss"], "untestable_explanation": "intubated"}, baseline(context))
    assert not valid
    assert form.untestable_explanation.errors == ["Untestable items: explanation: leave empty when no item is marked untestable."]


def test_coma_with_sensory_or_language_scored_otherwise_must_be_confirmed(posted, context):
    coma = {**EXAMPLES["nihss"], "item_1a": "3", "item_8": "2", "item_9": "2"}
    form, valid = posted(NihssForm, coma, baseline(context))
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "1a. Level of consciousness is 3 (coma); the NINDS instructions then score 8. Sensory as 2 and 9. Best language as 3: confirm items 8 and 9."
    ]
    assert posted(NihssForm, {**coma, "item_9": "3"}, baseline(context))[1]


def test_at_day_0_a_total_below_the_inclusion_threshold_must_be_confirmed(posted, context):
    mild = {**EXAMPLES["nihss"], "item_5b": "0", "item_6b": "0", "item_4": "0"}  # total 5
    form, valid = posted(NihssForm, mild, baseline(context))
    assert not valid
    assert [w.message for w in form.pending_warnings] == [
        "NIHSS total 5 does not meet inclusion criterion “4. Baseline National Institutes of Health Stroke Scale (NIHSS) score ≥6”: "
        "confirm the value, and tell the monitor if the subject was not eligible."
    ]
    assert posted(NihssForm, mild, context("angel-icas", "d7"))[1]


def test_compute_sums_the_items_with_untestable_ones_counting_0(context):
    values = {name: int(value) for name, value in EXAMPLES["nihss"].items()}
    data = NihssData(**{**values, "item_5b": None, "item_5b_untestable": True, "item_10": None, "item_10_untestable": True})
    compute(data, baseline(context))
    assert data.total == EXAMPLE_TOTAL - 3 - 1
    assert results(data) == [("NIHSS total", "8 of 42"), ("Untestable items (counted as 0)", "2 (5b, 10)")]


def test_compute_leaves_the_total_empty_while_an_item_is_unanswered(context):
    values = {name: int(value) for name, value in EXAMPLES["nihss"].items()}
    data = NihssData(**{**values, "item_7": None})
    compute(data, baseline(context))
    assert data.total is None
    assert results(data) == [("NIHSS total", "not computable until every item is scored or marked untestable")]
    data = NihssData(**values)
    compute(data, baseline(context))
    assert (data.total, results(data)[1]) == (EXAMPLE_TOTAL, ("Untestable items (counted as 0)", "0"))


@pytest.mark.parametrize("score", ["11", "-1"])
def test_aspects_score_is_0_to_10(posted, context, score):
    form, valid = posted(AspectsForm, {"circulation": "posterior", "score": score}, baseline(context), complete=False)
    assert not valid
    assert form.score.errors == ["Score: enter a whole number from 0 to 10."]


def test_at_day_0_an_aspects_below_6_must_be_confirmed_naming_the_score(posted, context):
    form, valid = posted(AspectsForm, {"circulation": "posterior", "score": "5"}, baseline(context))
    assert not valid
    assert form.pending_warnings[0].message.startswith("pc-ASPECTS 5 does not meet inclusion criterion")
    assert posted(AspectsForm, {"circulation": "posterior", "score": "5", "confirm": "eligibility_aspects"}, baseline(context))[1]


@pytest.mark.parametrize(("circulation", "name"), [("anterior", "ASPECTS"), ("posterior", "pc-ASPECTS")])
def test_aspects_results_say_which_score_it_is(circulation, name):
    assert aspects_results(AspectsData(circulation=circulation, score=7)) == [(name, "7 of 10")]
    assert aspects_results(AspectsData(circulation=circulation)) == [("ASPECTS / pc-ASPECTS", "not entered")]


def test_an_item_given_a_missing_code_over_a_score_saves_as_draft_and_complete_without_the_score(posted, context):
    values = {
        **EXAMPLES["nihss"],
        "item_5b_untestable": "y",
        "item_5b__missing": "not_done",
        "item_5b__reason": "patient agitated",
        "untestable_explanation": "right arm in a cast",
    }
    for complete in (False, True):
        form, valid = posted(NihssForm, values, baseline(context), complete=complete)
        assert valid, form.errors
        assert form.entry_input(complete).values["item_5b"] is None
