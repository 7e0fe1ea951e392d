"""Rutherford category of the target limb."""
from __future__ import annotations

from forms.base import CrfForm, Warning
from forms.fields import choice, graded

# -- Rutherford (clinical.md §2.1, Rutherford 1997) ----------------------------------------

#: category -> clinical description (clinical.md §2.1; its inner dashes written as parentheses).
CATEGORIES: list[tuple[int, str]] = [
    (0, "Asymptomatic (no hemodynamically significant occlusive disease)"),
    (1, "Mild claudication"),
    (2, "Moderate claudication"),
    (3, "Severe claudication"),
    (4, "Ischemic rest pain"),
    (5, "Minor tissue loss (nonhealing ulcer, focal gangrene with diffuse pedal ischemia)"),
    (6, "Major tissue loss (extending above the transmetatarsal level, functional foot no longer salvageable)"),
]
#: Categories 4-6 are chronic limb-threatening ischaemia (clinical.md §2.1).
CLTI_CATEGORIES = range(4, 7)


def is_clti(category: int) -> bool:
    """Rutherford 4-6: chronic limb-threatening ischaemia."""
    return category in CLTI_CATEGORIES


class RutherfordForm(CrfForm):
    limb = choice("Target limb", [("right", "Right"), ("left", "Left")])
    category = graded("Rutherford category", CATEGORIES, description="Of the target limb, at this visit")

    def warnings(self) -> list[Warning]:
        """At day 0: a category that contradicts the protocol's Rutherford eligibility criteria."""
        return self.eligibility_warnings("rutherford", self.value("category"), "category", "Rutherford category")
