"""Rutherford form rules, the day-0 eligibility warnings, the shared graded radio, and the CLTI computation."""

from __future__ import annotations

import pytest

from ecrf.instruments.rutherford import RutherfordData, compute, results
from forms.rutherford import RutherfordForm

#: A valid complete entry, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "rutherford": {"limb": "right", "category": "3"},
}


def test_the_example_is_valid(posted, context):
    form, valid = posted(RutherfordForm, EXAMPLES["rutherford"], context("defier", "baseline"))
    assert valid, form.errors
    assert form.category.data == 3


def test_each_option_shows_its_clinical_description(posted, context):
    form, _ = posted(RutherfordForm, EXAMPLES["rutherford"], context())
    assert [option.label.text for option in form.category][3] == "3 — Severe claudication"
    assert len(list(form.category)) == 7


def test_category_is_required_to_complete_but_not_for_a_draft(posted, context):
    values = {"limb": "left"}
    form, valid = posted(RutherfordForm, values, context())
    assert not valid
    assert form.category.errors == ["Rutherford category: required; choose a grade from 0 to 6."]
    assert posted(RutherfordForm, values, context(), complete=False)[1]


@pytest.mark.parametrize("value", ["7", "-1", "x", "3.0"])
def test_a_category_outside_0_to_6_is_refused_naming_the_field(posted, context, value):
    form, valid = posted(RutherfordForm, {"limb": "left", "category": value}, context(), complete=False)
    assert not valid
    assert form.category.errors == ["Rutherford category: choose a grade from 0 to 6."]


def test_at_day_0_a_category_the_protocol_excludes_must_be_confirmed(posted, context):
    form, valid = posted(RutherfordForm, {"limb": "left", "category": "6"}, context("defier", "baseline"))
    assert not valid
    assert [(w.code, w.message) for w in form.pending_warnings] == [
        (
            "eligibility_rutherford",
            "Rutherford category 6 does not meet inclusion criterion “(3) Rutherford Clinical Category 2-5.”: "
            "confirm the value, and tell the monitor if the subject was not eligible.",
        ),
        (
            "eligibility_rutherford_0_or_6",
            "Rutherford category 6 meets exclusion criterion “(2) Rutherford Category 0 or 6.”: "
            "confirm the value, and tell the monitor if the subject was not eligible.",
        ),
    ]
    confirmed = {"limb": "left", "category": "6", "confirm": ["eligibility_rutherford", "eligibility_rutherford_0_or_6"]}
    assert posted(RutherfordForm, confirmed, context("defier", "baseline"))[1]


def test_after_day_0_any_category_needs_no_confirming(posted, context):
    form, valid = posted(RutherfordForm, {"limb": "left", "category": "6"}, context("defier", "m1"))
    assert valid and form.pending_warnings == []


def test_a_study_without_a_rutherford_criterion_warns_of_nothing(posted, context):
    form, valid = posted(RutherfordForm, {"limb": "left", "category": "0"}, context("leg-deb", "baseline"))
    assert valid and form.pending_warnings == []


@pytest.mark.parametrize(("category", "clti"), [(0, False), (3, False), (4, True), (6, True), (None, None)])
def test_compute_marks_categories_4_to_6_as_clti(context, category, clti):
    data = RutherfordData(limb="right", category=category)
    compute(data, context())
    assert data.clti is clti


def test_results_give_the_description_and_clti():
    assert results(RutherfordData(category=5, clti=True)) == [
        ("Rutherford category", "5 — Minor tissue loss (nonhealing ulcer, focal gangrene with diffuse pedal ischemia)"),
        ("Chronic limb-threatening ischaemia (4–6)", "Yes"),
    ]
    assert results(RutherfordData()) == [("Rutherford category", "not entered")]
