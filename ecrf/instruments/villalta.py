"""Villalta scale: typed table with the computed total and ISTH class."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf import scales
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.villalta import VillaltaForm


class VillaltaData(CrfData):
    __tablename__ = "villalta_data"

    leg: Mapped[str | None] = mapped_column(String(5))
    pain: Mapped[int | None]
    cramps: Mapped[int | None]
    heaviness: Mapped[int | None]
    paresthesia: Mapped[int | None]
    pruritus: Mapped[int | None]
    pretibial_edema: Mapped[int | None]
    skin_induration: Mapped[int | None]
    hyperpigmentation: Mapped[int | None]
    redness: Mapped[int | None]
    venous_ectasia: Mapped[int | None]
    calf_compression_pain: Mapped[int | None]
    ulcer: Mapped[bool | None]
    #: Computed: sum of the 11 items (0-33) and class none / mild / moderate / severe.
    total: Mapped[int | None]
    severity: Mapped[str | None] = mapped_column(String(10))


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


INSTRUMENTS = [Instrument("villalta", VillaltaForm, VillaltaData, compute=compute, results=results)]
