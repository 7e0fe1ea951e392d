"""Ankle-brachial index: typed table and computed ABI and band per leg."""

from __future__ import annotations

from decimal import Decimal

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

SIDES = [("right", "Right"), ("left", "Left")]

ANKLE_FINDINGS = [("not_measurable", "Not measurable (no signal)"), ("incompressible", "Incompressible")]


#: What each leg's ABI and band are computed from: both arms and that leg's two ankle arteries.
_ARMS = ("brachial_right", "brachial_right_not_measurable", "brachial_left", "brachial_left_not_measurable")
_LEG_INPUTS = {side: (*_ARMS, f"pt_{side}", f"pt_{side}_finding", f"dp_{side}", f"dp_{side}_finding") for side, _ in SIDES}

ITEMS = items(
    Item("target_limb", "Target limb", Kind.CHOICE, codes=SIDES),
    Item("brachial_right", "Brachial systolic, right arm (mmHg)", Kind.INTEGER, low=50, high=300, unit="mmHg", required=False),
    Item("brachial_right_not_measurable", "Right arm not measurable", Kind.TICK),
    Item("brachial_left", "Brachial systolic, left arm (mmHg)", Kind.INTEGER, low=50, high=300, unit="mmHg", required=False),
    Item("brachial_left_not_measurable", "Left arm not measurable", Kind.TICK),
    #: Ankle systolic pressures, mmHg; the *_finding columns say why one is absent.
    Item("pt_right", "Posterior tibial, right (mmHg)", Kind.INTEGER, low=scales.PRESSURE_MIN, high=scales.PRESSURE_MAX, unit="mmHg", required=False),
    Item("pt_right_finding", "Posterior tibial, right: finding", Kind.CHOICE, codes=ANKLE_FINDINGS, required=False, length=20),
    Item("dp_right", "Dorsalis pedis, right (mmHg)", Kind.INTEGER, low=scales.PRESSURE_MIN, high=scales.PRESSURE_MAX, unit="mmHg", required=False),
    Item("dp_right_finding", "Dorsalis pedis, right: finding", Kind.CHOICE, codes=ANKLE_FINDINGS, required=False, length=20),
    Item("pt_left", "Posterior tibial, left (mmHg)", Kind.INTEGER, low=scales.PRESSURE_MIN, high=scales.PRESSURE_MAX, unit="mmHg", required=False),
    Item("pt_left_finding", "Posterior tibial, left: finding", Kind.CHOICE, codes=ANKLE_FINDINGS, required=False, length=20),
    Item("dp_left", "Dorsalis pedis, left (mmHg)", Kind.INTEGER, low=scales.PRESSURE_MIN, high=scales.PRESSURE_MAX, unit="mmHg", required=False),
    Item("dp_left_finding", "Dorsalis pedis, left: finding", Kind.CHOICE, codes=ANKLE_FINDINGS, required=False, length=20),
    #: Computed: ABI per leg (2 decimals) and its AHA/ACC band.
    Item(
        "abi_right",
        "ABI right",
        Kind.DECIMAL,
        places=2,
        precision=4,
        derived_from=_LEG_INPUTS["right"],
    ),
    Item(
        "band_right",
        "ABI band right",
        Kind.TEXT,
        length=20,
        derived_from=_LEG_INPUTS["right"],
    ),
    Item(
        "abi_left",
        "ABI left",
        Kind.DECIMAL,
        places=2,
        precision=4,
        derived_from=_LEG_INPUTS["left"],
    ),
    Item(
        "band_left",
        "ABI band left",
        Kind.TEXT,
        length=20,
        derived_from=_LEG_INPUTS["left"],
    ),
)


def no_pedal_signal(get, side: str) -> bool:
    """Whether neither ankle artery of the leg gives a signal (both marked not measurable), from a value getter."""
    return all(get(f"{artery}_{side}_finding") == "not_measurable" for artery in ("pt", "dp"))


def leg_abis(get) -> dict[str, Decimal | None]:
    """ABI per leg from a value getter (form or data row); None where it cannot be computed, 0.00 with no pedal signal."""
    brachial = [get(f"brachial_{side}") for side in ("right", "left")]
    return {side: scales.abi(get(f"pt_{side}"), get(f"dp_{side}"), *brachial, no_pedal_signal=no_pedal_signal(get, side)) for side in ("right", "left")}


class AbiData(CrfData):
    __tablename__ = "abi_data"
    __items__ = ITEMS


def compute(data: AbiData, context: FormContext) -> None:
    """ABI and band per leg; a leg with an incompressible ankle artery is banded noncompressible, its ABI left empty;
    a leg with no pedal signal has ABI 0.00, abnormal."""
    for side, value in leg_abis(lambda name: getattr(data, name)).items():
        incompressible = "incompressible" in (getattr(data, f"pt_{side}_finding"), getattr(data, f"dp_{side}_finding"))
        if incompressible:
            setattr(data, f"abi_{side}", None)
            setattr(data, f"band_{side}", "noncompressible")
        else:
            setattr(data, f"abi_{side}", value)
            setattr(data, f"band_{side}", scales.abi_category(value) if value is not None else None)


def leg_text(data: AbiData, side: str) -> str:
    """The ABI of one leg as shown: "0.64 (abnormal)", "0.00 (abnormal, no signal)", "— (noncompressible)"."""
    value, band = getattr(data, f"abi_{side}"), getattr(data, f"band_{side}")
    signal = ", no signal" if value is not None and no_pedal_signal(lambda name: getattr(data, name), side) else ""
    return f"{'—' if value is None else value} ({band or 'not computable'}{signal})"


def results(data: AbiData) -> list[tuple[str, str]]:
    return [(f"ABI {side}", leg_text(data, side)) for side in ("right", "left")]


#: One declaration (form, table, computation), two codes: `abi` at any visit (at the procedure visit: before the
#: procedure) and `abi_post`, the ABI after the procedure at the index procedure or discharge. The safety rules
#: measure a later fall from the best value after the procedure (ecrf/safety/rules.py).
INSTRUMENTS = [
    Instrument("abi", AbiData, compute=compute, results=results),
    Instrument("abi_post", AbiData, compute=compute, results=results),
]
