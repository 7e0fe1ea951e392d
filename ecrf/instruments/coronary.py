"""PRECISE CAL coronary instruments: typed tables, crossover, periprocedural MI and the 12-month QFR flag."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf import scales
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from ecrf.db import UTCDateTime
from forms.base import FormContext
from forms.coronary import MARKERS, PerioperativeEventsForm, ProcedureCoronaryForm, QfrForm


class ProcedureCoronaryData(CrfData):
    __tablename__ = "procedure_coronary_data"

    #: lad / lcx / rca / left_main / other (then target_vessel_other says which).
    target_vessel: Mapped[str | None] = mapped_column(String(10))
    target_vessel_other: Mapped[str | None] = mapped_column(String(100))
    reference_diameter_mm: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    #: Calcium modification techniques used (tick all that apply): rotational atherectomy, IVL, excimer laser.
    modification_ra: Mapped[bool | None]
    modification_ivl: Mapped[bool | None]
    modification_elca: Mapped[bool | None]
    #: QFR after calcium modification (the randomization gate's value), 0.00-1.00.
    qfr_post_modification: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    #: dcb / des: the device used, as entered (not checked against the randomized arm).
    device: Mapped[str | None] = mapped_column(String(3))
    #: DCB subjects only: a bail-out stent was placed (the subject stays in the DCB arm).
    bailout_stent: Mapped[bool | None]
    #: flow_limiting_dissection / other (then bailout_reason_other says which).
    bailout_reason: Mapped[str | None] = mapped_column(String(30))
    bailout_reason_other: Mapped[str | None] = mapped_column(String(200))
    #: Computed: a DCB subject got a bail-out stent (False for DES; None until the bail-out question is answered).
    crossover: Mapped[bool | None]


class PerioperativeEventsData(CrfData):
    __tablename__ = "perioperative_events_data"

    side_branch_loss: Mapped[bool | None]
    perforation: Mapped[bool | None]
    no_reflow: Mapped[bool | None]
    #: Troponin (cTn) and CK-MB, each: measured?, unit (free text, shared by its ULN, pre-PCI value and peak),
    #: ULN, pre-PCI value, post-PCI peak and the peak's sampling instant (UTC).
    ctn_measured: Mapped[bool | None]
    ctn_unit: Mapped[str | None] = mapped_column(String(20))
    ctn_uln: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    ctn_pre: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    ctn_peak: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    ctn_peak_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ckmb_measured: Mapped[bool | None]
    ckmb_unit: Mapped[str | None] = mapped_column(String(20))
    ckmb_uln: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    ckmb_pre: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    ckmb_peak: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    ckmb_peak_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Computed: each peak / its ULN, shown rounded (1 decimal half-up, scales.shown_multiple); the verdicts
    #: below are judged on the exact values, not on these.
    ctn_uln_multiple: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    ckmb_uln_multiple: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    #: Computed: the marker meets the MI definition (scales.periprocedural_mi); None until computable.
    ctn_mi: Mapped[bool | None]
    ckmb_mi: Mapped[bool | None]
    #: Computed: the protocol's MI multiple used (safety.periprocedural_mi_uln_multiple, 5 for PRECISE CAL).
    mi_threshold_uln: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    #: Computed: the protocol's rise over an elevated pre-PCI value used (safety.periprocedural_mi_rise_percent).
    mi_rise_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    #: Computed: either marker meets the definition (True), both measured ones do not (False), else None.
    periprocedural_mi: Mapped[bool | None]


class QfrData(CrfData):
    __tablename__ = "qfr_data"

    angiography_date: Mapped[date | None]
    qfr_target_vessel: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    restenosis: Mapped[bool | None]
    #: Computed: the protocol's flag value used (safety.qfr_flag_at_or_below, 0.80 for PRECISE CAL).
    qfr_threshold: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    #: Computed: qfr_target_vessel <= qfr_threshold (0.80 itself is flagged).
    qfr_at_or_below_threshold: Mapped[bool | None]


def _yes_no(value: bool | None, unknown: str = "not computable") -> str:
    return unknown if value is None else ("yes" if value else "no")


def compute_procedure(data: ProcedureCoronaryData, context: FormContext) -> None:
    """Crossover: a DCB subject with a bail-out stent (recorded; the subject stays in the DCB arm)."""
    if data.device == "des":
        data.crossover = False
    elif data.device == "dcb" and data.bailout_stent is not None:
        data.crossover = data.bailout_stent
    else:
        data.crossover = None


def procedure_results(data: ProcedureCoronaryData) -> list[tuple[str, str]]:
    """The crossover, as shown after saving."""
    return [("Crossover to a stent (stays in the DCB arm)", _yes_no(data.crossover, "not known until the device and bail-out are answered"))]


def _marker(data: PerioperativeEventsData, prefix: str, name: str):
    return getattr(data, f"{prefix}_{name}")


def _marker_verdict(data: PerioperativeEventsData, prefix: str, multiple: Decimal | None, rise: Decimal | None) -> None:
    """One marker's shown multiple and MI verdict (judged exactly: 5.04x ULN is above 5x)."""
    peak, uln, pre = (_marker(data, prefix, name) for name in ("peak", "uln", "pre"))
    computable = _marker(data, prefix, "measured") and peak is not None and bool(uln)
    setattr(data, f"{prefix}_uln_multiple", scales.shown_multiple(scales.uln_multiple(peak, uln)) if computable else None)
    setattr(data, f"{prefix}_mi", scales.periprocedural_mi(peak, uln, multiple, pre, rise) if computable and multiple is not None else None)


def compute_perioperative(data: PerioperativeEventsData, context: FormContext) -> None:
    """Each marker's peak as a multiple of its ULN, and periprocedural MI when either meets the protocol's definition.

    Disagreement (clinical.md 8.6): we use the protocol's own definition (cTn or CK-MB > 5x ULN, PRECISE CAL),
    not SCAI / ARC; with an elevated pre-PCI value, the UDMI rise the protocol file sets. The verdict is judged
    on the exact values (peak > 5 x ULN); the multiple is only shown rounded.
    """
    safety = context.protocol.safety
    multiple, rise = safety.periprocedural_mi_uln_multiple, safety.periprocedural_mi_rise_percent
    for prefix, _ in MARKERS:
        _marker_verdict(data, prefix, multiple, rise)
    data.mi_threshold_uln = multiple
    data.mi_rise_percent = rise if multiple is not None else None
    verdicts = [_marker(data, prefix, "mi") for prefix, _ in MARKERS if _marker(data, prefix, "measured")]
    if any(verdicts):
        data.periprocedural_mi = True
    elif verdicts and all(verdict is False for verdict in verdicts):
        data.periprocedural_mi = False
    else:
        data.periprocedural_mi = None


def marker_summary(data: PerioperativeEventsData, prefix: str) -> str:
    """One marker's peak as shown, e.g. "10.7 x ULN"; a value rounded onto the threshold says on which side it lies."""
    shown, threshold = _marker(data, prefix, "uln_multiple"), data.mi_threshold_uln
    text = f"{shown} \u00d7 ULN"
    if threshold is not None and shown == threshold:
        exact = scales.uln_multiple(_marker(data, prefix, "peak"), _marker(data, prefix, "uln"))
        if exact != threshold:
            text += f" ({exact:.3f}, {'above' if exact > threshold else 'below'} {threshold:.1f})"
    return text


def perioperative_results(data: PerioperativeEventsData) -> list[tuple[str, str]]:
    """Each marker's multiple of ULN and the MI verdict with its threshold."""
    rows = []
    for prefix, name in MARKERS:
        measured = _marker(data, prefix, "measured")
        if _marker(data, prefix, "uln_multiple") is not None:
            rows.append((name, marker_summary(data, prefix)))
        else:
            rows.append((name, "not measured" if measured is False else "not computable until the peak and ULN are entered"))
    if data.mi_threshold_uln is not None:
        rise = f"; with an elevated pre-PCI value, a rise of more than {data.mi_rise_percent:.0f} %" if data.mi_rise_percent is not None else ""
        rows.append((f"Periprocedural MI (either marker > {data.mi_threshold_uln:.1f} \u00d7 ULN{rise})", _yes_no(data.periprocedural_mi)))
    return rows


def compute_qfr(data: QfrData, context: FormContext) -> None:
    """Flag a 12-month QFR at or below the protocol's value (0.80 itself counts as failure)."""
    threshold = context.protocol.safety.qfr_flag_at_or_below
    if data.qfr_target_vessel is None or threshold is None:
        data.qfr_threshold, data.qfr_at_or_below_threshold = None, None
        return
    data.qfr_threshold = threshold
    data.qfr_at_or_below_threshold = data.qfr_target_vessel <= threshold


def qfr_results(data: QfrData) -> list[tuple[str, str]]:
    """The QFR and whether it is flagged, with the protocol's value."""
    if data.qfr_at_or_below_threshold is None:
        return [("QFR", "not computable until the QFR is entered")]
    return [("QFR of the target vessel", f"{data.qfr_target_vessel:.2f}"),
            (f"QFR \u2264 {data.qfr_threshold:.2f} (flagged)", _yes_no(data.qfr_at_or_below_threshold))]


INSTRUMENTS = [
    Instrument("procedure_coronary", ProcedureCoronaryForm, ProcedureCoronaryData, compute=compute_procedure, results=procedure_results),
    Instrument("perioperative_events", PerioperativeEventsForm, PerioperativeEventsData, compute=compute_perioperative, results=perioperative_results),
    Instrument("qfr", QfrForm, QfrData, compute=compute_qfr, results=qfr_results),
]
