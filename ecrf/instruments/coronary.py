"""PRECISE CAL coronary instruments: typed tables, crossover, periprocedural MI and the 12-month QFR flag."""

from __future__ import annotations

from decimal import Decimal

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

#: QFR is a dimensionless pressure ratio like FFR. clinical.md §6 marks its valid range
#: unconfirmed; we accept 0.00-1.00 (2 decimals, as the sources report it): the
#: computation models a distal/aortic pressure ratio under fixed or contrast flow, which cannot exceed 1.
QFR_LOW, QFR_HIGH = "0.00", "1.00"
#: The cardiac markers of the protocol's MI definition ("cTn or CK-MB > 5x ULN"): field prefix and name.
#: Both may be measured; each has its own unit, ULN, pre-PCI value, post-PCI peak and sampling time.
MARKERS = [("ctn", "Troponin (cTn)"), ("ckmb", "CK-MB")]

VESSELS = [
    ("lad", "Left anterior descending (LAD)"),
    ("lcx", "Left circumflex (LCx)"),
    ("rca", "Right coronary artery (RCA)"),
    ("left_main", "Left main"),
    ("other", "Other"),
]

#: The randomized arm's device. The form neither shows nor checks the subject's arm (open-label, but the
#: entry must record what was used, and a mismatch is a deviation for the monitor, not an entry error).
DEVICES = [("dcb", "Drug-coated balloon (DCB)"), ("des", "Drug-eluting stent (DES)")]

BAILOUT_REASONS = [("flow_limiting_dissection", "Flow-limiting dissection"), ("other", "Other")]

ULN_HINT = "The laboratory's upper limit of normal (for troponin the 99th-percentile upper reference limit), same unit"

PRE_HINT = "The last value before the PCI; if none was drawn, use the missing code not done"

PEAK_HINT = "The highest value after the PCI"


PROCEDURE_CORONARY_ITEMS = items(
    #: lad / lcx / rca / left_main / other (then target_vessel_other says which).
    Item("target_vessel", "Target vessel", Kind.CHOICE, codes=VESSELS, length=10),
    Item("target_vessel_other", "Target vessel: specify other", Kind.TEXT, max_length=100, required=False),
    Item("reference_diameter_mm", "Reference vessel diameter (mm)", Kind.DECIMAL, low="1.00", high="6.00", places=2, unit="mm"),
    #: Calcium modification techniques used (tick all that apply): rotational atherectomy, IVL, excimer laser.
    Item("modification_ra", "Calcium modification: rotational atherectomy (RA)", Kind.TICK, description="Tick all that apply; at least one"),
    Item("modification_ivl", "Calcium modification: intravascular lithotripsy (IVL)", Kind.TICK),
    Item("modification_elca", "Calcium modification: excimer laser coronary angioplasty (ELCA)", Kind.TICK),
    #: QFR after calcium modification (the randomization gate's value), 0.00-1.00.
    Item(
        "qfr_post_modification",
        "QFR after calcium modification",
        Kind.DECIMAL,
        low=QFR_LOW,
        high=QFR_HIGH,
        places=2,
        description="Quantitative flow ratio of the target vessel, 0.00-1.00",
    ),
    #: dcb / des: the device used, as entered (not checked against the randomized arm).
    Item("device", "Device used", Kind.CHOICE, codes=DEVICES, description="The device of the subject's randomized arm"),
    #: DCB subjects only: a bail-out stent was placed (the subject stays in the DCB arm).
    Item(
        "bailout_stent",
        "Bail-out stent (DCB subjects)",
        Kind.YES_NO,
        required=False,
        description="A DCB subject who gets a bail-out stent stays in the DCB arm; the crossover is recorded",
    ),
    #: flow_limiting_dissection / other (then bailout_reason_other says which).
    Item("bailout_reason", "Bail-out stent: reason", Kind.CHOICE, codes=BAILOUT_REASONS, required=False, length=30),
    Item("bailout_reason_other", "Bail-out stent: specify other reason", Kind.TEXT, max_length=200, required=False),
    #: Computed: a DCB subject got a bail-out stent (False for DES; None until the bail-out question is answered).
    Item("crossover", "Crossover to a stent (stays in the DCB arm)", Kind.YES_NO, derived_from=("device", "bailout_stent")),
)


class ProcedureCoronaryData(CrfData):
    __tablename__ = "procedure_coronary_data"

    __items__ = PROCEDURE_CORONARY_ITEMS


PERIOPERATIVE_EVENTS_ITEMS = items(
    Item("side_branch_loss", "Side-branch loss", Kind.YES_NO),
    Item("perforation", "Coronary perforation", Kind.YES_NO),
    Item("no_reflow", "No-reflow / slow flow", Kind.YES_NO),
    #: Troponin (cTn) and CK-MB, each: measured?, unit (free text, shared by its ULN, pre-PCI value and peak),
    #: ULN, pre-PCI value, post-PCI peak and the peak's sampling instant (UTC).
    Item("ctn_measured", "Troponin (cTn) measured around the PCI", Kind.YES_NO),
    Item(
        "ctn_unit",
        "Troponin (cTn): unit",
        Kind.TEXT,
        max_length=20,
        required=False,
        description="As the laboratory reports it, e.g. ng/L; the same for the ULN, the pre-PCI value and the peak",
    ),
    Item("ctn_uln", "Troponin (cTn): upper limit of normal", Kind.DECIMAL, low="0.001", high="100000", places=3, required=False, description=ULN_HINT),
    Item("ctn_pre", "Troponin (cTn): pre-PCI value", Kind.DECIMAL, low="0", high="100000", places=3, required=False, description=PRE_HINT),
    Item("ctn_peak", "Troponin (cTn): post-PCI peak", Kind.DECIMAL, low="0", high="100000", places=3, required=False, description=PEAK_HINT),
    Item(
        "ctn_peak_at",
        "Troponin (cTn): post-PCI peak sampled at",
        Kind.DATETIME,
        required=False,
        description="Site local date and time the peak sample was drawn",
    ),
    Item("ckmb_measured", "CK-MB measured around the PCI", Kind.YES_NO),
    Item(
        "ckmb_unit",
        "CK-MB: unit",
        Kind.TEXT,
        max_length=20,
        required=False,
        description="As the laboratory reports it, e.g. ng/L; the same for the ULN, the pre-PCI value and the peak",
    ),
    Item("ckmb_uln", "CK-MB: upper limit of normal", Kind.DECIMAL, low="0.001", high="100000", places=3, required=False, description=ULN_HINT),
    Item("ckmb_pre", "CK-MB: pre-PCI value", Kind.DECIMAL, low="0", high="100000", places=3, required=False, description=PRE_HINT),
    Item("ckmb_peak", "CK-MB: post-PCI peak", Kind.DECIMAL, low="0", high="100000", places=3, required=False, description=PEAK_HINT),
    Item("ckmb_peak_at", "CK-MB: post-PCI peak sampled at", Kind.DATETIME, required=False, description="Site local date and time the peak sample was drawn"),
    #: Computed: each peak / its ULN, shown rounded (1 decimal half-up, scales.shown_multiple); the verdicts
    #: below are judged on the exact values, not on these.
    Item(
        "ctn_uln_multiple",
        "Troponin (cTn): peak as a multiple of the ULN",
        Kind.DECIMAL,
        places=1,
        precision=10,
        derived_from=("ctn_measured", "ctn_uln", "ctn_peak"),
    ),
    Item(
        "ckmb_uln_multiple",
        "CK-MB: peak as a multiple of the ULN",
        Kind.DECIMAL,
        places=1,
        precision=10,
        derived_from=("ckmb_measured", "ckmb_uln", "ckmb_peak"),
    ),
    #: Computed: the marker meets the MI definition (scales.periprocedural_mi); None until computable.
    Item("ctn_mi", "Troponin (cTn) meets the periprocedural MI definition", Kind.YES_NO, derived_from=("ctn_measured", "ctn_uln", "ctn_pre", "ctn_peak")),
    Item("ckmb_mi", "CK-MB meets the periprocedural MI definition", Kind.YES_NO, derived_from=("ckmb_measured", "ckmb_uln", "ckmb_pre", "ckmb_peak")),
    #: Computed: the protocol's MI multiple used (safety.periprocedural_mi_uln_multiple, 5 for PRECISE CAL).
    Item("mi_threshold_uln", "The protocol's MI multiple of the ULN", Kind.DECIMAL, places=1, precision=4, derived_from=()),
    #: Computed: the protocol's rise over an elevated pre-PCI value used (safety.periprocedural_mi_rise_percent).
    Item("mi_rise_percent", "The protocol's rise over an elevated pre-PCI value (%)", Kind.DECIMAL, places=1, precision=5, derived_from=()),
    #: Computed: either marker meets the definition (True), both measured ones do not (False), else None.
    Item("periprocedural_mi", "Periprocedural MI", Kind.YES_NO, derived_from=("ctn_mi", "ckmb_mi")),
)


class PerioperativeEventsData(CrfData):
    __tablename__ = "perioperative_events_data"

    __items__ = PERIOPERATIVE_EVENTS_ITEMS


QFR_ITEMS = items(
    Item("angiography_date", "Angiography date", Kind.DATE),
    Item("qfr_target_vessel", "QFR of the target vessel", Kind.DECIMAL, low=QFR_LOW, high=QFR_HIGH, places=2, description="Quantitative flow ratio, 0.00-1.00"),
    Item("restenosis", "Target-vessel restenosis", Kind.YES_NO, description="Angiographic diameter stenosis of 50 % or more in the target vessel"),
    #: Computed: the protocol's flag value used (safety.qfr_flag_at_or_below, 0.80 for PRECISE CAL).
    Item("qfr_threshold", "The protocol's QFR flag value", Kind.DECIMAL, places=2, precision=3, derived_from=()),
    #: Computed: qfr_target_vessel <= qfr_threshold (0.80 itself is flagged).
    Item("qfr_at_or_below_threshold", "QFR at or below the protocol's value", Kind.YES_NO, derived_from=("qfr_target_vessel",)),
)


class QfrData(CrfData):
    __tablename__ = "qfr_data"

    __items__ = QFR_ITEMS


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
    return [
        ("QFR of the target vessel", f"{data.qfr_target_vessel:.2f}"),
        (f"QFR \u2264 {data.qfr_threshold:.2f} (flagged)", _yes_no(data.qfr_at_or_below_threshold)),
    ]


INSTRUMENTS = [
    Instrument("procedure_coronary", ProcedureCoronaryData, compute=compute_procedure, results=procedure_results),
    Instrument("perioperative_events", PerioperativeEventsData, compute=compute_perioperative, results=perioperative_results),
    Instrument("qfr", QfrData, compute=compute_qfr, results=qfr_results),
]
