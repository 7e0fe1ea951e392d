"""NIHSS and ASPECTS / pc-ASPECTS: typed tables, the NIHSS total, and which ASPECTS score was entered."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.nihss import SCORE_NAMES, AspectsForm, NihssForm, total_of, untestable_codes


class NihssData(CrfData):
    __tablename__ = "nihss_data"

    #: Item scores in NINDS order (1a 0-3, 1b 0-2, 1c 0-2, 2 0-2, 3 0-3, 4 0-3, 5a/5b/6a/6b 0-4, 7 0-2, 8 0-2, 9 0-3,
    #: 10 0-2, 11 0-2). An item marked untestable (UN) has no score; only 5a, 5b, 6a, 6b, 7 and 10 may be.
    item_1a: Mapped[int | None]
    item_1b: Mapped[int | None]
    item_1c: Mapped[int | None]
    item_2: Mapped[int | None]
    item_3: Mapped[int | None]
    item_4: Mapped[int | None]
    item_5a: Mapped[int | None]
    item_5a_untestable: Mapped[bool | None]
    item_5b: Mapped[int | None]
    item_5b_untestable: Mapped[bool | None]
    item_6a: Mapped[int | None]
    item_6a_untestable: Mapped[bool | None]
    item_6b: Mapped[int | None]
    item_6b_untestable: Mapped[bool | None]
    item_7: Mapped[int | None]
    item_7_untestable: Mapped[bool | None]
    item_8: Mapped[int | None]
    item_9: Mapped[int | None]
    item_10: Mapped[int | None]
    item_10_untestable: Mapped[bool | None]
    item_11: Mapped[int | None]
    #: Why the items marked untestable could not be tested.
    untestable_explanation: Mapped[str | None] = mapped_column(String(200))
    #: Computed: sum of the items, 0-42, untestable items counting 0 (scales.nihss_total); None while an item is unanswered.
    total: Mapped[int | None]


def compute(data: NihssData, context: FormContext) -> None:
    """The NIHSS total, once every item is scored or marked untestable."""
    data.total = total_of(lambda name: getattr(data, name))


def results(data: NihssData) -> list[tuple[str, str]]:
    """The total and how many items were untestable."""
    if data.total is None:
        return [("NIHSS total", "not computable until every item is scored or marked untestable")]
    untestable = untestable_codes(lambda name: getattr(data, name))
    which = f" ({', '.join(untestable)})" if untestable else ""
    return [("NIHSS total", f"{data.total} of 42"), ("Untestable items (counted as 0)", f"{len(untestable)}{which}")]


class AspectsData(CrfData):
    __tablename__ = "aspects_data"

    #: anterior (the score is ASPECTS) / posterior (the score is pc-ASPECTS).
    circulation: Mapped[str | None] = mapped_column(String(10))
    #: 0-10; 10 = no early ischaemic change.
    score: Mapped[int | None]


def aspects_results(data: AspectsData) -> list[tuple[str, str]]:
    """The score, named ASPECTS or pc-ASPECTS by the circulation."""
    if data.score is None or data.circulation is None:
        return [("ASPECTS / pc-ASPECTS", "not entered")]
    return [(SCORE_NAMES[data.circulation], f"{data.score} of 10")]


INSTRUMENTS = [
    Instrument("nihss", NihssForm, NihssData, compute=compute, results=results),
    Instrument("aspects", AspectsForm, AspectsData, results=aspects_results),
]
