"""Duplex ultrasound of the target segment: occlusion, peak systolic velocities, PSV ratio."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from ecrf import scales
from forms.abi import SIDES
from forms.base import CrfForm, Warning
from forms.fields import choice, date_field, decimal, yes_no
from forms.peripheral import SEGMENTS

#: A PSV ratio above this needs confirming (our own plausibility limit: the reference gives none; a ratio this high
#: is more often a mistyped velocity than a real lesion).
PSVR_CONFIRM_ABOVE = Decimal(10)


def _velocity(label: str):
    # Limits are those scales.psv_ratio accepts, so a stored pair can always be computed.
    return decimal(f"{label} (cm/s)", "1", "1000", 1, "cm/s", is_required=False, description="Leave empty when the segment is occluded.")


class DuplexForm(CrfForm):
    # The exam date is asked (it may differ from the visit date); a date outside the visit window is to be confirmed.
    exam_date = date_field("Duplex date")
    side = choice("Target limb", SIDES)
    segment = choice("Target segment", SEGMENTS)
    # Occlusion comes before the velocities: when occluded there is no flow to measure and they stay empty.
    occluded = yes_no("Occlusion (no flow in the target segment)")
    psv_lesion = _velocity("Intrastenotic peak systolic velocity")
    psv_proximal = _velocity("Prestenotic (proximal) peak systolic velocity")

    def check(self) -> None:
        """Date in the study; both velocities when the segment is open, none when it is occluded."""
        self.check_date_in_study("exam_date")
        occluded = self.yes("occluded")
        open_ = None if occluded is None else not occluded
        for name in ("psv_lesion", "psv_proximal"):
            self.only_if(open_, name, "unless the segment is occluded", "when the segment is occluded")

    def warnings(self) -> list[Warning]:
        """An exam outside the visit window; a PSV ratio above 10."""
        found = self.window_warning("exam_date")
        ratio = psvr(self.value)
        if ratio is not None and ratio > PSVR_CONFIRM_ABOVE:
            found.append(Warning(
                "psvr_high", "psv_lesion",
                f"PSV ratio {ratio} is above {PSVR_CONFIRM_ABOVE}: confirm both peak systolic velocities.",
            ))
        return found


def psvr(get: Callable[[str], object]) -> Decimal | None:
    """PSV ratio from a value getter (form or data row); None when occluded or a velocity is missing."""
    lesion, proximal = get("psv_lesion"), get("psv_proximal")
    if get("occluded") or lesion is None or proximal is None:
        return None
    return scales.psv_ratio(lesion, proximal)
