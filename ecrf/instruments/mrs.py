"""Modified Rankin Scale: typed table, pre-stroke flag and functional independence (mRS 0-2) for the outcome."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf import scales
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.base import FormContext
from forms.mrs import GRADES, PRESTROKE_LABEL, MrsForm


class MrsData(CrfData):
    __tablename__ = "mrs_data"

    #: mRS 0-6 (0-5 when pre-stroke).
    score: Mapped[int | None]
    #: in_person / telephone; asked only after day 0.
    method: Mapped[str | None] = mapped_column(String(10))
    #: Asked only after day 0.
    assessor_blinded: Mapped[bool | None]
    #: Computed: True when entered at day 0, where the score is the pre-stroke (premorbid) mRS.
    prestroke: Mapped[bool | None]
    #: Computed, outcome only: mRS 0-2 (functional independence); None for the pre-stroke mRS or without a score.
    independent: Mapped[bool | None]


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


INSTRUMENTS = [Instrument("mrs", MrsForm, MrsData, compute=compute, results=results)]
