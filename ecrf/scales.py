"""Clinical computations: pure functions, no Flask, no database.

Definitions and bands follow ../shared/reference/clinical.md (sections cited per
function). Each function rejects an out-of-range input with ValueError naming the
item, so a wrong value can never turn into a plausible-looking score.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

TWO_PLACES = Decimal("0.01")

#: Systolic pressures accepted by `abi`, mmHg (our own plausibility limits: the reference gives none, §1.4).
PRESSURE_MIN, PRESSURE_MAX = 1, 350


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: must be a whole number from {low} to {high}, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is out of range {low}-{high}")
    return value


def _pressure(name: str, value: int | None) -> int | None:
    return None if value is None else _check_int(name, value, PRESSURE_MIN, PRESSURE_MAX)


# -- Ankle-brachial index (§1.1, §1.2) ---------------------------------------------------

#: ABI of a leg with no pedal signal: no ankle pressure at all, so the ratio is 0 (shown as "0.00, no signal").
NO_SIGNAL_ABI = Decimal("0.00")


def abi(ankle_pt: int | None, ankle_dp: int | None, brachial_right: int | None, brachial_left: int | None, *, no_pedal_signal: bool = False) -> Decimal | None:
    """ABI of one leg: the higher of its posterior tibial and dorsalis pedis pressures over
    the higher brachial pressure, to 2 decimals rounded half-up (2016 AHA/ACC).

    A pressure that could not be measured is None; with no ankle or no brachial
    pressure the ABI is None. A leg with no pedal signal at all (neither ankle artery
    gives a Doppler signal, `no_pedal_signal`) has an ankle pressure of 0 and the ABI
    0.00, whatever the arm pressures: the most abnormal value, not a missing one.
    """
    if no_pedal_signal:
        if ankle_pt is not None or ankle_dp is not None:
            raise ValueError("no_pedal_signal: a leg with no pedal signal has no ankle pressure; leave both empty")
        return NO_SIGNAL_ABI
    ankle = [p for p in (_pressure("ankle_pt", ankle_pt), _pressure("ankle_dp", ankle_dp)) if p is not None]
    arm = [p for p in (_pressure("brachial_right", brachial_right), _pressure("brachial_left", brachial_left)) if p is not None]
    if not ankle or not arm:
        return None
    return (Decimal(max(ankle)) / Decimal(max(arm))).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def abi_category(value: Decimal) -> str:
    """Band of a resting ABI: noncompressible (> 1.40), normal (1.00-1.40), borderline (0.91-0.99), abnormal (<= 0.90)."""
    value = Decimal(value)
    if not Decimal(0) <= value <= Decimal("9.99"):
        raise ValueError(f"abi: {value} is out of range 0.00-9.99")
    if value > Decimal("1.40"):
        return "noncompressible"
    if value >= Decimal("1.00"):
        return "normal"
    if value > Decimal("0.90"):
        return "borderline"
    return "abnormal"


# -- Villalta (§3) -------------------------------------------------------------------------

VILLALTA_SYMPTOMS = ("pain", "cramps", "heaviness", "paresthesia", "pruritus")
VILLALTA_SIGNS = ("pretibial_edema", "skin_induration", "hyperpigmentation", "redness", "venous_ectasia", "calf_compression_pain")
VILLALTA_ITEMS = VILLALTA_SYMPTOMS + VILLALTA_SIGNS


def _exact_items(items: Mapping[str, object], expected: tuple[str, ...], scale: str) -> None:
    unknown = sorted(set(items) - set(expected))
    if unknown:
        raise ValueError(f"{unknown[0]}: not a {scale} item")
    absent = [name for name in expected if name not in items]
    if absent:
        raise ValueError(f"{absent[0]}: missing {scale} item")


def villalta_total(items: Mapping[str, int]) -> int:
    """Sum of the 5 symptoms and 6 signs, each 0-3 (0-33). The ulcer is not an item."""
    _exact_items(items, VILLALTA_ITEMS, "Villalta")
    return sum(_check_int(name, items[name], 0, 3) for name in VILLALTA_ITEMS)


def villalta_severity(total: int, ulcer: bool) -> str:
    """ISTH 4-band class: none (0-4), mild (5-9), moderate (10-14), severe (>= 15 or a venous ulcer)."""
    _check_int("total", total, 0, 33)
    if not isinstance(ulcer, bool):
        raise ValueError(f"ulcer: must be True or False, not {ulcer!r}")
    if ulcer or total >= 15:
        return "severe"
    if total >= 10:
        return "moderate"
    if total >= 5:
        return "mild"
    return "none"


# -- NIHSS (§5.1) ----------------------------------------------------------------------------

#: item -> (highest score, may be untestable)
NIHSS_ITEMS: dict[str, tuple[int, bool]] = {
    "1a": (3, False),
    "1b": (2, False),
    "1c": (2, False),
    "2": (2, False),
    "3": (3, False),
    "4": (3, False),
    "5a": (4, True),
    "5b": (4, True),
    "6a": (4, True),
    "6b": (4, True),
    "7": (2, True),
    "8": (2, False),
    "9": (3, False),
    "10": (2, True),
    "11": (2, False),
}


def nihss_total(items: Mapping[str, int | None]) -> int:
    """Sum of the 15 NIHSS items (0-42). None marks an untestable item (only 5a, 5b, 6a, 6b, 7 and 10
    may be), which counts 0: the reference gives no rule for it (§5.1, unconfirmed), 0 is the NINDS form's practice."""
    _exact_items(items, tuple(NIHSS_ITEMS), "NIHSS")
    total = 0
    for name, (highest, may_be_untestable) in NIHSS_ITEMS.items():
        score = items[name]
        if score is None:
            if not may_be_untestable:
                raise ValueError(f"{name}: cannot be untestable; enter a score from 0 to {highest}")
            continue
        total += _check_int(name, score, 0, highest)
    return total


# -- Duplex, cardiac markers --------------------------------------------------------------------


def psv_ratio(psv_lesion: Decimal | int, psv_proximal: Decimal | int) -> Decimal:
    """Peak systolic velocity ratio: intrastenotic over prestenotic PSV, 2 decimals half-up (§8.3)."""
    lesion, proximal = Decimal(psv_lesion), Decimal(psv_proximal)
    for name, value in (("psv_lesion", lesion), ("psv_proximal", proximal)):
        if not Decimal(1) <= value <= Decimal(1000):
            raise ValueError(f"{name}: {value} cm/s is out of range 1-1000")
    return (lesion / proximal).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def restenosed(psvr: Decimal, occluded: bool, threshold: Decimal) -> bool:
    """Duplex restenosis: occlusion, or a PSVR at or above the protocol's threshold (PARC: 2.4 for > 50 %)."""
    return occluded or Decimal(psvr) >= Decimal(threshold)


def uln_multiple(value: Decimal, upper_limit_of_normal: Decimal) -> Decimal:
    """A laboratory value as a multiple of its upper limit of normal, unrounded (judge this; show `shown_multiple`)."""
    value, uln = Decimal(value), Decimal(upper_limit_of_normal)
    if value < 0:
        raise ValueError(f"value: {value} is negative")
    if uln <= 0:
        raise ValueError(f"upper_limit_of_normal: {uln} must be above 0")
    return value / uln


def shown_multiple(multiple: Decimal) -> Decimal:
    """A multiple of ULN as shown: 1 decimal, half-up. For display only; thresholds judge the exact value."""
    return Decimal(multiple).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def periprocedural_mi(
    peak: Decimal, upper_limit_of_normal: Decimal, multiple: Decimal, pre: Decimal | None = None, rise_percent: Decimal | None = None
) -> bool:
    """Periprocedural MI by one cardiac marker (§8.6): the post-PCI peak above `multiple` x ULN, judged exactly
    (peak > multiple x ULN, no division, no rounding). When the pre-PCI value is itself above the ULN and
    `rise_percent` is given, the peak must also exceed it by more than `rise_percent` % (UDMI: an elevated
    baseline needs a rise)."""
    peak, uln, multiple = Decimal(peak), Decimal(upper_limit_of_normal), Decimal(multiple)
    if peak < 0 or (pre is not None and Decimal(pre) < 0):
        raise ValueError(f"peak: {peak} is negative" if peak < 0 else f"pre: {pre} is negative")
    if uln <= 0:
        raise ValueError(f"upper_limit_of_normal: {uln} must be above 0")
    above = peak > multiple * uln
    if above and pre is not None and rise_percent is not None and Decimal(pre) > uln:
        return peak * 100 > Decimal(pre) * (100 + Decimal(rise_percent))
    return above


def mrs_independent(score: int) -> bool:
    """Modified Rankin 0-2: functional independence (§4)."""
    return _check_int("mrs", score, 0, 6) <= 2


# -- Peripheral procedure: PARC acute technical success (§8.1) -----------------------------------
# Appended for procedure_peripheral (forms/peripheral.py).

#: Highest residual diameter stenosis (%) that is still technical success: after a stent, and after angioplasty or
#: atherectomy without a stent (PARC Table 4).
PARC_RESIDUAL_MAX_STENT, PARC_RESIDUAL_MAX_ANGIOPLASTY = 30, 50


def parc_technical_success(residual_stenosis_pct: int, stented: bool, flow_limiting_dissection: bool) -> bool:
    """PARC acute technical success: residual stenosis <= 30 % with a stent or <= 50 % without one, and no
    flow-limiting dissection. The < 10 mmHg translesional gradient is not judged (rarely measured)."""
    residual = _check_int("residual_stenosis_pct", residual_stenosis_pct, 0, 100)
    for name, value in (("stented", stented), ("flow_limiting_dissection", flow_limiting_dissection)):
        if not isinstance(value, bool):
            raise ValueError(f"{name}: must be True or False, not {value!r}")
    limit = PARC_RESIDUAL_MAX_STENT if stented else PARC_RESIDUAL_MAX_ANGIOPLASTY
    return residual <= limit and not flow_limiting_dissection
