"""PRECISE CAL coronary instruments: typed tables, crossover, periprocedural MI and the 12-month QFR flag."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf import scales
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
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
    marker_measured: Mapped[bool | None]
    #: ctn (cardiac troponin) / ckmb; its peak and upper limit of normal share marker_unit (free text).
    marker: Mapped[str | None] = mapped_column(String(4))
    marker_unit: Mapped[str | None] = mapped_column(String(20))
    marker_peak: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    marker_uln: Mapped[Decimal | None] = mapped_column(Numeric(9, 3))
    #: Computed: peak / ULN, 1 decimal half-up (scales.uln_multiple).
    marker_uln_multiple: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    #: Computed: the protocol's MI multiple used (safety.periprocedural_mi_uln_multiple, 5 for PRECISE CAL).
    mi_threshold_uln: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    #: Computed: marker_uln_multiple > mi_threshold_uln (strictly: "> 5x ULN").
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


def compute_perioperative(data: PerioperativeEventsData, context: FormContext) -> None:
    """Peak marker as a multiple of its ULN, and periprocedural MI when it exceeds the protocol's multiple.

    Disagreement (clinical.md 8.6): we use the protocol's own definition (cTn or CK-MB
    > 5x ULN, PRECISE CAL), not UDMI / SCAI / ARC. The comparison uses the stored
    multiple (1 decimal), so the verdict always agrees with the value shown: 5.04x
    shows as 5.0x and is not MI; 5.05x shows as 5.1x and is.
    """
    threshold = context.protocol.safety.periprocedural_mi_uln_multiple
    if data.marker_peak is None or not data.marker_uln:
        data.marker_uln_multiple, data.mi_threshold_uln, data.periprocedural_mi = None, None, None
        return
    data.marker_uln_multiple = scales.uln_multiple(data.marker_peak, data.marker_uln)
    data.mi_threshold_uln = threshold
    data.periprocedural_mi = None if threshold is None else data.marker_uln_multiple > threshold


def perioperative_results(data: PerioperativeEventsData) -> list[tuple[str, str]]:
    """The peak marker's multiple of ULN and the MI verdict with its threshold."""
    if data.marker_uln_multiple is None:
        return [("Peak cardiac marker", "not measured" if data.marker_measured is False else "not computable until the peak and ULN are entered")]
    marker = dict(MARKERS).get(data.marker or "", "Marker")
    rows = [("Peak cardiac marker", f"{marker}: {data.marker_uln_multiple} \u00d7 ULN")]
    if data.mi_threshold_uln is not None:
        rows.append((f"Periprocedural MI (> {data.mi_threshold_uln:.1f} \u00d7 ULN)", _yes_no(data.periprocedural_mi)))
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
