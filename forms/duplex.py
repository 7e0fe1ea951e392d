"""Duplex ultrasound of the target segment: occlusion, peak systolic velocities, PSV ratio."""

from __future__ import annotations

from decimal import Decimal

from ecrf.instruments.duplex import ITEMS, psvr
from forms.base import CrfForm, Warning
from forms.fields import field_for

#: A PSV ratio above this needs confirming (our own plausibility limit: the reference gives none; a ratio this high
#: is more often a mistyped velocity than a real lesion).
PSVR_CONFIRM_ABOVE = Decimal(10)


class DuplexForm(CrfForm):
    # The exam date is asked (it may differ from the visit date); a date outside the visit window is to be confirmed.
    exam_date = field_for(ITEMS["exam_date"])
    side = field_for(ITEMS["side"])
    segment = field_for(ITEMS["segment"])
    # Occlusion comes before the velocities: when occluded there is no flow to measure and they stay empty.
    occluded = field_for(ITEMS["occluded"])
    psv_lesion = field_for(ITEMS["psv_lesion"])
    psv_proximal = field_for(ITEMS["psv_proximal"])

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
            found.append(
                Warning(
                    "psvr_high",
                    "psv_lesion",
                    f"PSV ratio {ratio} is above {PSVR_CONFIRM_ABOVE}: confirm both peak systolic velocities.",
                )
            )
        return found
