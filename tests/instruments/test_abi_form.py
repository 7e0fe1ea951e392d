"""ABI form rules at form level, and the ABI computation from a data row (the pattern for instrument tests)."""

from __future__ import annotations

from decimal import Decimal

from ecrf.instruments.abi import AbiData, compute
from forms.abi import AbiForm

#: A valid complete entry, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "abi": {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"},
}
EXAMPLES["abi_post"] = EXAMPLES["abi"]  # the same form, entered after the procedure


def test_the_example_is_valid(posted, context):
    form, valid = posted(AbiForm, EXAMPLES["abi"], context())
    assert valid, form.errors


def test_an_artery_cannot_have_a_pressure_and_a_finding(posted, context):
    form, valid = posted(AbiForm, {**EXAMPLES["abi"], "pt_right_finding": "not_measurable"}, context())
    assert not valid
    assert form.pt_right.errors == ["Posterior tibial, right (mmHg): leave the pressure empty when the artery is marked not measurable (no signal)."]


def test_compute_fills_abi_and_band_per_leg(context):
    data = AbiData(
        brachial_right=140, brachial_left=130, pt_right=120, dp_right=110, pt_left=None, dp_left=150, dp_left_finding=None, pt_left_finding="not_measurable"
    )
    compute(data, context())
    assert (data.abi_right, data.band_right, data.abi_left, data.band_left) == (Decimal("0.86"), "abnormal", Decimal("1.07"), "normal")


class _TwoRulesOneMessage(AbiForm):
    """An ABI form where two rules refuse one item with the same words (as a date checked twice would)."""

    def check(self) -> None:
        super().check()
        for _rule in range(2):
            self.fail("pt_right", "Posterior tibial, right (mmHg): check the value against the source.")
            self.fail(None, "The exam is not plausible.")


def test_plain_errors_name_each_problem_once(app, context):
    with app.test_request_context(method="POST"):
        form = _TwoRulesOneMessage.from_plain(dict(EXAMPLES["abi"]), {}, context=context())
        assert not form.validate_entry(True)
        assert form.plain_errors() == [
            ("values.pt_right", "Posterior tibial, right (mmHg): check the value against the source."),
            (None, "The exam is not plausible."),
        ]
