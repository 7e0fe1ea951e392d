"""Ankle-brachial index: brachial and ankle systolic pressures in the order they are measured."""

from __future__ import annotations

from decimal import Decimal

from ecrf.instruments.abi import ANKLE_FINDINGS, ITEMS, leg_abis
from forms.base import CrfForm, Warning
from forms.fields import field_for

#: Brachial pressures differing by more than this need confirming (suspected subclavian stenosis).
BRACHIAL_DIFFERENCE_MMHG = 15
#: (field, label) of the four ankle arteries, paper order.
ANKLE_ARTERIES = [
    ("pt_right", "Posterior tibial, right"),
    ("dp_right", "Dorsalis pedis, right"),
    ("pt_left", "Posterior tibial, left"),
    ("dp_left", "Dorsalis pedis, left"),
]


class AbiForm(CrfForm):
    target_limb = field_for(ITEMS["target_limb"])
    brachial_right = field_for(ITEMS["brachial_right"])
    brachial_right_not_measurable = field_for(ITEMS["brachial_right_not_measurable"])
    brachial_left = field_for(ITEMS["brachial_left"])
    brachial_left_not_measurable = field_for(ITEMS["brachial_left_not_measurable"])
    pt_right = field_for(ITEMS["pt_right"])
    pt_right_finding = field_for(ITEMS["pt_right_finding"])
    dp_right = field_for(ITEMS["dp_right"])
    dp_right_finding = field_for(ITEMS["dp_right_finding"])
    pt_left = field_for(ITEMS["pt_left"])
    pt_left_finding = field_for(ITEMS["pt_left_finding"])
    dp_left = field_for(ITEMS["dp_left"])
    dp_left_finding = field_for(ITEMS["dp_left_finding"])

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
            found.append(
                Warning(
                    "brachial_difference",
                    "brachial_left",
                    f"Brachial pressures differ by {abs(right - left)} mmHg (more than {BRACHIAL_DIFFERENCE_MMHG}): confirm both arms.",
                )
            )
        for side, value in leg_abis(self.value).items():
            if value is not None and value > Decimal("1.40"):
                found.append(
                    Warning(
                        f"abi_{side}_high",
                        f"dp_{side}",
                        f"ABI {side} {value} is above 1.40 (noncompressible range): confirm the {side} ankle pressures.",
                    )
                )
        return found
