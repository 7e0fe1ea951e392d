"""Rutherford category of the target limb."""

from __future__ import annotations

from ecrf.instruments.rutherford import ITEMS
from forms.base import CrfForm, Warning
from forms.fields import field_for

# -- Rutherford (clinical.md §2.1, Rutherford 1997) ----------------------------------------


class RutherfordForm(CrfForm):
    limb = field_for(ITEMS["limb"])
    category = field_for(ITEMS["category"])

    def warnings(self) -> list[Warning]:
        """At day 0: a category that contradicts the protocol's Rutherford eligibility criteria."""
        return self.eligibility_warnings("rutherford", self.value("category"), "category", "Rutherford category")
