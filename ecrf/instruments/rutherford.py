"""Rutherford category: typed table and whether the limb has chronic limb-threatening ischaemia."""

from __future__ import annotations

from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

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


ITEMS = items(
    Item("limb", "Target limb", Kind.CHOICE, codes=(("right", "Right"), ("left", "Left"))),
    #: Rutherford category 0-6 of that limb.
    Item("category", "Rutherford category", Kind.GRADED, codes=CATEGORIES, description="Of the target limb, at this visit"),
    #: Computed: category 4-6 (chronic limb-threatening ischaemia); None until the category is entered.
    Item("clti", "Chronic limb-threatening ischaemia (Rutherford 4-6)", Kind.YES_NO, derived_from=("category",)),
)


class RutherfordData(CrfData):
    __tablename__ = "rutherford_data"

    __items__ = ITEMS


def compute(data: RutherfordData, context: FormContext) -> None:
    """Whether the category is chronic limb-threatening ischaemia."""
    data.clti = None if data.category is None else is_clti(data.category)


def results(data: RutherfordData) -> list[tuple[str, str]]:
    """The category with its description, and whether it is CLTI."""
    if data.category is None:
        return [("Rutherford category", "not entered")]
    return [
        ("Rutherford category", f"{data.category} — {dict(CATEGORIES)[data.category]}"),
        ("Chronic limb-threatening ischaemia (4–6)", "Yes" if data.clti else "No"),
    ]


INSTRUMENTS = [Instrument("rutherford", RutherfordData, compute=compute, results=results)]
