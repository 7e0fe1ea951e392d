"""Villalta scale: typed table with the computed total and ISTH class."""

from __future__ import annotations

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

SCORING = "0 none, 1 mild, 2 moderate, 3 severe"


ITEMS = items(
    Item("leg", "Affected leg", Kind.CHOICE, codes=(("right", "Right"), ("left", "Left"))),
    Item("pain", "Pain", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("cramps", "Cramps", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("heaviness", "Heaviness", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("paresthesia", "Paresthesia", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("pruritus", "Pruritus", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("pretibial_edema", "Pretibial edema", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("skin_induration", "Skin induration", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("hyperpigmentation", "Hyperpigmentation", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("redness", "Redness", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("venous_ectasia", "Venous ectasia", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("calf_compression_pain", "Pain on calf compression", Kind.INTEGER, low=0, high=3, description=SCORING),
    Item("ulcer", "Venous ulcer present", Kind.YES_NO),
    #: Computed: sum of the 11 items (0-33) and class none / mild / moderate / severe.
    Item(
        "total",
        "Villalta total",
        Kind.INTEGER,
        derived_from=scales.VILLALTA_ITEMS,
    ),
    Item("severity", "Post-thrombotic syndrome", Kind.TEXT, length=10, derived_from=("total", "ulcer")),
)


class VillaltaData(CrfData):
    __tablename__ = "villalta_data"

    __items__ = ITEMS


def compute(data: VillaltaData, context: FormContext) -> None:
    """Total and class, once every item and the ulcer question are answered."""
    items = {name: getattr(data, name) for name in scales.VILLALTA_ITEMS}
    if None in items.values() or data.ulcer is None:
        data.total, data.severity = None, None
        return
    data.total = scales.villalta_total(items)
    data.severity = scales.villalta_severity(data.total, data.ulcer)


def results(data: VillaltaData) -> list[tuple[str, str]]:
    if data.total is None:
        return [("Villalta total", "not computable until every item is answered")]
    return [("Villalta total", f"{data.total} of 33"), ("Post-thrombotic syndrome", data.severity)]


INSTRUMENTS = [Instrument("villalta", VillaltaData, compute=compute, results=results)]
