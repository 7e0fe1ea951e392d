"""Villalta form and computation."""

from __future__ import annotations

from ecrf.instruments.villalta import VillaltaData, compute
from ecrf.scales import VILLALTA_ITEMS
from forms.villalta import VillaltaForm

EXAMPLES = {
    "villalta": {"leg": "left", **{name: "1" for name in VILLALTA_ITEMS}, "pain": "3", "ulcer": "False"},
}


def test_the_example_is_valid(posted, context):
    form, valid = posted(VillaltaForm, EXAMPLES["villalta"], context("defiance", "baseline"))
    assert valid, form.errors


def test_an_item_above_3_is_refused_naming_it(posted, context):
    form, valid = posted(VillaltaForm, {**EXAMPLES["villalta"], "redness": "4"}, context("defiance", "baseline"))
    assert not valid and form.redness.errors == ["Redness: enter a whole number from 0 to 3."]


def test_an_ulcer_makes_the_syndrome_severe_whatever_the_total(context):
    data = VillaltaData(ulcer=True, **{name: 0 for name in VILLALTA_ITEMS})
    compute(data, context("defiance", "baseline"))
    assert (data.total, data.severity) == (0, "severe")


def test_no_total_until_every_item_is_answered(context):
    data = VillaltaData(ulcer=False, **{name: 1 for name in VILLALTA_ITEMS[:-1]})
    compute(data, context("defiance", "baseline"))
    assert data.total is None and data.severity is None


def test_a_defiance_baseline_villalta_of_9_or_less_asks_for_confirmation(posted, context):
    low = {"leg": "left", **{name: "0" for name in VILLALTA_ITEMS}, "pain": "3", "cramps": "3", "heaviness": "3", "ulcer": "False"}
    form, valid = posted(VillaltaForm, low, context("defiance", "baseline"))
    assert not valid and [w.code for w in form.pending_warnings] == ["eligibility_villalta"]
    assert form.pending_warnings[0].message.startswith(
        "Villalta total 9 does not meet inclusion criterion \u201cSignificant symptoms, as defined by a Villalta score > 9\u201d"
    )
    assert posted(VillaltaForm, {**low, "confirm": "eligibility_villalta"}, context("defiance", "baseline"))[1]
    assert posted(VillaltaForm, {**low, "cramps": "0"}, context("defiance", "baseline"), complete=False)[1]  # a draft needs no confirmation
    assert posted(VillaltaForm, low, context("defiance", "d30"))[1]  # after baseline a low score is the hoped-for result
