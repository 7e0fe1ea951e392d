"""Duplex ultrasound: typed table with the computed PSV ratio and the patency judgement at the protocol's threshold."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import cast

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from ecrf.instruments.abi import SIDES
from ecrf.instruments.peripheral import SEGMENTS

ITEMS = items(
    Item("exam_date", "Duplex date", Kind.DATE),
    Item("side", "Target limb", Kind.CHOICE, codes=SIDES),
    Item("segment", "Target segment", Kind.CHOICE, codes=SEGMENTS, length=20),
    Item("occluded", "Occlusion (no flow in the target segment)", Kind.YES_NO),
    #: Peak systolic velocities, cm/s: in the lesion and just before it; empty when occluded.
    Item(
        "psv_lesion",
        "Intrastenotic peak systolic velocity (cm/s)",
        Kind.DECIMAL,
        low="1",
        high="1000",
        places=1,
        unit="cm/s",
        required=False,
        description="Leave empty when the segment is occluded.",
    ),
    Item(
        "psv_proximal",
        "Prestenotic (proximal) peak systolic velocity (cm/s)",
        Kind.DECIMAL,
        low="1",
        high="1000",
        places=1,
        unit="cm/s",
        required=False,
        description="Leave empty when the segment is occluded.",
    ),
    #: Computed: intrastenotic / prestenotic PSV, 2 decimals (empty when occluded).
    Item("psvr", "PSV ratio", Kind.DECIMAL, places=2, precision=6, derived_from=("occluded", "psv_lesion", "psv_proximal")),
    #: Computed: restenosis (occlusion, or PSVR at or above psvr_threshold) and its opposite, duplex patency of the
    #: segment at this exam (not "primary patency", which also needs freedom from reintervention). Empty when not judged.
    Item("restenosis", "Restenosis", Kind.YES_NO, derived_from=("occluded", "psvr", "psvr_threshold")),
    Item("patent", "Duplex patency", Kind.YES_NO, derived_from=("occluded", "psvr", "psvr_threshold")),
    #: The protocol's PSVR threshold when the entry was first saved; kept on later saves so that a protocol
    #: amendment does not change past judgements. Empty when the protocol had none.
    Item("psvr_threshold", "The protocol's PSVR threshold", Kind.DECIMAL, places=2, precision=4, derived_from=()),
)


def psvr(get: Callable[[str], object]) -> Decimal | None:
    """PSV ratio from a value getter (form or data row); None when occluded or a velocity is missing."""
    lesion, proximal = get("psv_lesion"), get("psv_proximal")
    if get("occluded") or lesion is None or proximal is None:
        return None
    # Decimal items (the getter's values are untyped); scales checks their range.
    return scales.psv_ratio(cast(Decimal, lesion), cast(Decimal, proximal))


class DuplexData(CrfData):
    __tablename__ = "duplex_data"
    __items__ = ITEMS


def compute(data: DuplexData, context: FormContext) -> None:
    """PSV ratio; restenosis and patency at the entry's threshold (an occlusion is restenosis whatever the threshold)."""
    if data.psvr_threshold is None:
        data.psvr_threshold = context.protocol.endpoints.psvr_restenosis
    data.psvr = psvr(lambda name: getattr(data, name))
    if data.occluded:
        data.restenosis = True
    elif data.occluded is False and data.psvr is not None and data.psvr_threshold is not None:
        data.restenosis = scales.restenosed(data.psvr, False, data.psvr_threshold)
    else:
        data.restenosis = None
    data.patent = None if data.restenosis is None else not data.restenosis


def results(data: DuplexData) -> list[tuple[str, str]]:
    if data.occluded:
        return [("PSV ratio", "not measured (occluded)"), ("Judgement", "occluded: restenosis, not patent")]
    ratio = ("PSV ratio", str(data.psvr) if data.psvr is not None else "not computable until both velocities are entered")
    if data.psvr is None or data.occluded is None:
        return [ratio, ("Judgement", "not judged until occlusion and both velocities are entered")]
    if data.psvr_threshold is None:
        return [ratio, ("Judgement", "not judged: the protocol sets no PSV ratio threshold for restenosis")]
    if data.restenosis:
        return [ratio, ("Judgement", f"restenosis (PSV ratio {data.psvr} is at or above {data.psvr_threshold})")]
    return [ratio, ("Judgement", f"patent (PSV ratio {data.psvr} is below {data.psvr_threshold})")]


INSTRUMENTS = [Instrument("duplex", DuplexData, compute=compute, results=results)]
