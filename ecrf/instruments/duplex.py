"""Duplex ultrasound: typed table with the computed PSV ratio and the patency judgement at the protocol's threshold."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf import scales
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.duplex import DuplexForm, psvr


class DuplexData(CrfData):
    __tablename__ = "duplex_data"

    exam_date: Mapped[date | None]
    side: Mapped[str | None] = mapped_column(String(5))
    segment: Mapped[str | None] = mapped_column(String(20))
    occluded: Mapped[bool | None]
    #: Peak systolic velocities, cm/s: in the lesion and just before it; empty when occluded.
    psv_lesion: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    psv_proximal: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    #: Computed: intrastenotic / prestenotic PSV, 2 decimals (empty when occluded).
    psvr: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    #: Computed: restenosis (occlusion, or PSVR at or above psvr_threshold) and its opposite, duplex patency of the
    #: segment at this exam (not "primary patency", which also needs freedom from reintervention). Empty when not judged.
    restenosis: Mapped[bool | None]
    patent: Mapped[bool | None]
    #: The protocol's PSVR threshold when the entry was first saved; kept on later saves so that a protocol
    #: amendment does not change past judgements. Empty when the protocol had none.
    psvr_threshold: Mapped[Decimal | None] = mapped_column(Numeric(4, 2))


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


INSTRUMENTS = [Instrument("duplex", DuplexForm, DuplexData, compute=compute, results=results)]
