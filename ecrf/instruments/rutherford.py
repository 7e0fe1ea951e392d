"""Rutherford category: typed table and whether the limb has chronic limb-threatening ischaemia."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.rutherford import CATEGORIES, RutherfordForm, is_clti


class RutherfordData(CrfData):
    __tablename__ = "rutherford_data"

    limb: Mapped[str | None] = mapped_column(String(5))
    #: Rutherford category 0-6 of that limb.
    category: Mapped[int | None]
    #: Computed: category 4-6 (chronic limb-threatening ischaemia); None until the category is entered.
    clti: Mapped[bool | None]


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


INSTRUMENTS = [Instrument("rutherford", RutherfordForm, RutherfordData, compute=compute, results=results)]
