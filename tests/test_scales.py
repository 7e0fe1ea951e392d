"""ecrf/scales.py against worked examples and every band edge of the clinical reference."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ecrf import scales
from ecrf.scales import abi, abi_category, nihss_total, villalta_severity, villalta_total

# -- ABI -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pt", "dp", "right", "left", "expected"),
    [
        (120, 110, 140, 130, "0.86"),  # higher ankle over higher arm: 120/140 = 0.857
        (110, 120, 130, 140, "0.86"),  # same with the sides swapped
        (181, None, 200, None, "0.91"),  # 0.905 rounds half-up, not to even
        (179, 150, 199, 200, "0.90"),  # 0.895 -> 0.90
        (150, 140, 150, 120, "1.00"),
        (None, 84, 140, None, "0.60"),  # one artery not measurable: the other one counts
    ],
)
def test_abi_uses_the_higher_ankle_and_the_higher_arm_pressure(pt, dp, right, left, expected):
    assert abi(pt, dp, right, left) == Decimal(expected)


def test_abi_is_none_without_an_ankle_or_a_brachial_pressure():
    assert abi(None, None, 130, 120) is None
    assert abi(100, 90, None, None) is None


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("ankle_pt", (0, 100, 120, 120)),
        ("ankle_dp", (100, 351, 120, 120)),
        ("brachial_right", (100, 100, -5, 120)),
        ("brachial_left", (100, 100, 120, 120.5)),
    ],
)
def test_abi_rejects_impossible_pressures_naming_the_item(name, args):
    with pytest.raises(ValueError, match=f"^{name}:"):
        abi(*args)


@pytest.mark.parametrize(
    ("value", "band"),
    [
        ("1.41", "noncompressible"),
        ("1.40", "normal"),
        ("1.00", "normal"),
        ("0.99", "borderline"),
        ("0.91", "borderline"),
        ("0.90", "abnormal"),
        ("0.00", "abnormal"),
        ("2.50", "noncompressible"),
    ],
)
def test_abi_bands_at_every_edge(value, band):
    assert abi_category(Decimal(value)) == band


def test_abi_category_rejects_a_negative_value():
    with pytest.raises(ValueError, match="^abi:"):
        abi_category(Decimal("-0.10"))


# -- Villalta --------------------------------------------------------------------------------


def _villalta(**scores) -> dict[str, int]:
    return {name: scores.get(name, 0) for name in scales.VILLALTA_ITEMS}


def test_villalta_total_sums_the_eleven_items():
    items = _villalta(pain=2, cramps=1, heaviness=3, pretibial_edema=2, hyperpigmentation=1, calf_compression_pain=1)
    assert villalta_total(items) == 10
    assert villalta_total(_villalta(**{name: 3 for name in scales.VILLALTA_ITEMS})) == 33


@pytest.mark.parametrize(
    ("items", "name"),
    [
        (_villalta(pain=4), "pain"),
        (_villalta(redness=-1), "redness"),
        ({k: v for k, v in _villalta().items() if k != "pruritus"}, "pruritus"),
        ({**_villalta(), "ulcer": 1}, "ulcer"),
    ],
)
def test_villalta_rejects_a_bad_item_naming_it(items, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        villalta_total(items)


@pytest.mark.parametrize(
    ("total", "ulcer", "severity"),
    [
        (0, False, "none"),
        (4, False, "none"),
        (5, False, "mild"),
        (9, False, "mild"),
        (10, False, "moderate"),
        (14, False, "moderate"),
        (15, False, "severe"),
        (33, False, "severe"),
        (3, True, "severe"),
    ],
)
def test_villalta_severity_bands_and_the_ulcer(total, ulcer, severity):
    assert villalta_severity(total, ulcer) == severity


def test_villalta_severity_rejects_a_total_above_33():
    with pytest.raises(ValueError, match="^total:"):
        villalta_severity(34, False)


# -- NIHSS -----------------------------------------------------------------------------------


def _nihss(scores: dict[str, int | None] | None = None) -> dict[str, int | None]:
    return {name: 0 for name in scales.NIHSS_ITEMS} | (scores or {})


def test_nihss_total_of_the_worst_case_is_42():
    assert nihss_total({name: highest for name, (highest, _) in scales.NIHSS_ITEMS.items()}) == 42


def test_nihss_untestable_items_count_zero():
    assert nihss_total(_nihss({"1a": 1, "5a": 4, "9": 2, "7": None, "10": None})) == 7


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("1a", 4, "out of range 0-3"),
        ("1b", 3, "out of range 0-2"),
        ("5a", 5, "out of range 0-4"),
        ("11", -1, "out of range 0-2"),
        ("9", None, "cannot be untestable"),
        ("1a", None, "cannot be untestable"),
    ],
)
def test_nihss_rejects_a_bad_item_naming_it(name, value, message):
    items = _nihss({name: value})
    with pytest.raises(ValueError, match=f"^{name}: .*{message}|^{name}: {message}"):
        nihss_total(items)


def test_nihss_needs_all_fifteen_items():
    items = _nihss()
    del items["6b"]
    with pytest.raises(ValueError, match="^6b: missing"):
        nihss_total(items)


# -- other computations ----------------------------------------------------------------------------


def test_psv_ratio_and_restenosis_at_the_protocol_threshold():
    assert scales.psv_ratio(240, 100) == Decimal("2.40")
    assert scales.restenosed(Decimal("2.40"), False, Decimal("2.4")) is True
    assert scales.restenosed(Decimal("2.39"), False, Decimal("2.4")) is False
    assert scales.restenosed(Decimal("1.10"), True, Decimal("2.4")) is True


def test_a_uln_multiple_is_judged_unrounded_and_shown_rounded():
    assert scales.uln_multiple(Decimal("5.04"), Decimal("1")) == Decimal("5.04")
    assert scales.shown_multiple(scales.uln_multiple(Decimal("5.04"), Decimal("1"))) == Decimal("5.0")
    assert scales.periprocedural_mi(Decimal("5.04"), Decimal("1"), Decimal("5")) is True
    assert scales.periprocedural_mi(Decimal("5.00"), Decimal("1"), Decimal("5")) is False


def test_uln_multiple_and_mrs_independence():
    assert scales.uln_multiple(Decimal("0.25"), Decimal("0.05")) == Decimal("5.0")
    assert scales.uln_multiple(Decimal("0.26"), Decimal("0.05")) == Decimal("5.2")
    with pytest.raises(ValueError, match="^upper_limit_of_normal:"):
        scales.uln_multiple(Decimal("1"), Decimal("0"))
    assert scales.mrs_independent(2) and not scales.mrs_independent(3)
    with pytest.raises(ValueError, match="^mrs:"):
        scales.mrs_independent(7)


def test_scales_import_neither_flask_nor_the_database():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(scales.__file__).read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    assert not {name for name in imported if name.split(".")[0] in {"flask", "sqlalchemy", "ecrf", "flask_sqlalchemy"}}


def test_a_leg_with_no_pedal_signal_has_abi_0_00_which_is_abnormal():
    assert abi(None, None, 140, 130, no_pedal_signal=True) == Decimal("0.00")
    assert abi_category(abi(None, None, None, None, no_pedal_signal=True)) == "abnormal"  # no ankle pressure whatever the arms


def test_no_pedal_signal_with_an_ankle_pressure_is_refused():
    with pytest.raises(ValueError, match="^no_pedal_signal:"):
        abi(90, None, 140, 130, no_pedal_signal=True)
