"""Ankle-brachial index: brachial and ankle systolic pressures in the order they are measured."""
from __future__ import annotations

from decimal import Decimal

from ecrf import scales
from forms.base import CrfForm, Warning
from forms.fields import choice, integer, tick

SIDES = [("right", "Right"), ("left", "Left")]
ANKLE_FINDINGS = [("not_measurable", "Not measurable (no signal)"), ("incompressible", "Incompressible")]
#: Brachial pressures differing by more than this need confirming (suspected subclavian stenosis).
BRACHIAL_DIFFERENCE_MMHG = 15
#: (field, label) of the four ankle arteries, paper order.
ANKLE_ARTERIES = [
    ("pt_right", "Posterior tibial, right"), ("dp_right", "Dorsalis pedis, right"),
    ("pt_left", "Posterior tibial, left"), ("dp_left", "Dorsalis pedis, left"),
]


def _ankle(label: str):
    return integer(f"{label} (mmHg)", scales.PRESSURE_MIN, scales.PRESSURE_MAX, "mmHg", is_required=False)


def _finding(label: str):
    return choice(f"{label}: finding", ANKLE_FINDINGS, is_required=False)


class AbiForm(CrfForm):
    target_limb = choice("Target limb", SIDES)
    brachial_right = integer("Brachial systolic, right arm (mmHg)", 50, 300, "mmHg", is_required=False)
    brachial_right_not_measurable = tick("Right arm not measurable")
    brachial_left = integer("Brachial systolic, left arm (mmHg)", 50, 300, "mmHg", is_required=False)
    brachial_left_not_measurable = tick("Left arm not measurable")
    pt_right = _ankle("Posterior tibial, right")
    pt_right_finding = _finding("Posterior tibial, right")
    dp_right = _ankle("Dorsalis pedis, right")
    dp_right_finding = _finding("Dorsalis pedis, right")
    pt_left = _ankle("Posterior tibial, left")
    pt_left_finding = _finding("Posterior tibial, left")
    dp_left = _ankle("Dorsalis pedis, left")
    dp_left_finding = _finding("Dorsalis pedis, left")

    def check(self) -> None:
        """Each pressure is either measured or marked not measurable / incompressible, not both."""
        for side in ("right", "left"):
            name = f"brachial_{side}"
            flagged = bool(self.value(f"{name}_not_measurable"))
            self._pressure_or_flag(name, flagged, "not measurable")
        for name, _ in ANKLE_ARTERIES:
            finding = self.value(f"{name}_finding")
            self._pressure_or_flag(name, bool(finding), dict(ANKLE_FINDINGS).get(finding, "").lower())

    def _pressure_or_flag(self, name: str, flagged: bool, flag_text: str) -> None:
        label = self[name].label.text
        if flagged and self.value(name) is not None:
            self.fail(name, f"{label}: leave the pressure empty when the artery is marked {flag_text}.")
        else:
            self.require_if(not flagged, name, "unless the artery is marked not measurable or incompressible")

    def warnings(self) -> list[Warning]:
        """ABI above 1.40, and brachial pressures differing by more than 15 mmHg."""
        found = []
        right, left = self.value("brachial_right"), self.value("brachial_left")
        if right is not None and left is not None and abs(right - left) > BRACHIAL_DIFFERENCE_MMHG:
            found.append(Warning(
                "brachial_difference", "brachial_left",
                f"Brachial pressures differ by {abs(right - left)} mmHg (more than {BRACHIAL_DIFFERENCE_MMHG}): confirm both arms.",
            ))
        for side, value in leg_abis(self.value).items():
            if value is not None and value > Decimal("1.40"):
                found.append(Warning(
                    f"abi_{side}_high", f"dp_{side}",
                    f"ABI {side} {value} is above 1.40 (noncompressible range): confirm the {side} ankle pressures.",
                ))
        return found


def no_pedal_signal(get, side: str) -> bool:
    """Whether neither ankle artery of the leg gives a signal (both marked not measurable), from a value getter."""
    return all(get(f"{artery}_{side}_finding") == "not_measurable" for artery in ("pt", "dp"))


def leg_abis(get) -> dict[str, Decimal | None]:
    """ABI per leg from a value getter (form or data row); None where it cannot be computed, 0.00 with no pedal signal."""
    brachial = [get(f"brachial_{side}") for side in ("right", "left")]
    return {
        side: scales.abi(get(f"pt_{side}"), get(f"dp_{side}"), *brachial, no_pedal_signal=no_pedal_signal(get, side))
        for side in ("right", "left")
    }
