"""Modified Rankin Scale: typed table, pre-stroke flag and functional independence (mRS 0-2) for the outcome."""

from __future__ import annotations

from ecrf import scales
from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

#: grade -> standard description (clinical.md §4).
GRADES: list[tuple[int, str]] = [
    (0, "No symptoms at all"),
    (1, "No significant disability despite symptoms; able to carry out all usual duties and activities"),
    (2, "Slight disability; unable to carry out all previous activities, but able to look after own affairs without assistance"),
    (3, "Moderate disability; requiring some help, but able to walk without assistance"),
    (4, "Moderately severe disability; unable to walk without assistance and unable to attend to own bodily needs without assistance"),
    (5, "Severe disability; bedridden, incontinent and requiring constant nursing care and attention"),
    (6, "Dead"),
]

METHODS = [("in_person", "In person"), ("telephone", "Telephone")]


PRESTROKE_LABEL = "Pre-stroke mRS"

ITEMS = items(
    #: mRS 0-6 (0-5 when pre-stroke).
    Item("score", "mRS score", Kind.GRADED, codes=GRADES, required=False, description="Function at this visit"),
    #: in_person / telephone; asked only after day 0.
    Item("method", "How the mRS was obtained", Kind.CHOICE, codes=METHODS, length=10),
    #: Asked only after day 0.
    Item("assessor_blinded", "Assessor blinded to the treatment arm", Kind.YES_NO),
    #: Computed: True when entered at day 0, where the score is the pre-stroke (premorbid) mRS.
    Item("prestroke", "Pre-stroke (entered at day 0)", Kind.YES_NO, derived_from=()),
    #: Computed, outcome only: mRS 0-2 (functional independence); None for the pre-stroke mRS or without a score.
    Item("independent", "Functional independence (mRS 0-2)", Kind.YES_NO, derived_from=("score",)),
)


class MrsData(CrfData):
    __tablename__ = "mrs_data"

    __items__ = ITEMS


def compute(data: MrsData, context: FormContext) -> None:
    """Whether this is the pre-stroke mRS and, for the outcome, functional independence."""
    data.prestroke = context.is_baseline
    data.independent = None if data.prestroke or data.score is None else scales.mrs_independent(data.score)


def results(data: MrsData) -> list[tuple[str, str]]:
    """The score with its description and, for the outcome, functional independence."""
    label = PRESTROKE_LABEL if data.prestroke else "mRS"
    if data.score is None:
        return [(label, "not entered")]
    found = [(label, f"{data.score} — {dict(GRADES)[data.score]}")]
    if not data.prestroke:
        found.append(("Functional independence (mRS 0–2)", "Yes" if data.independent else "No"))
    return found


INSTRUMENTS = [Instrument("mrs", MrsData, compute=compute, results=results)]
