"""Modified Rankin Scale: the pre-stroke mRS at day 0, the outcome mRS (how obtained, blinded assessor) at later visits."""

from __future__ import annotations

from ecrf.instruments.mrs import ITEMS, PRESTROKE_LABEL
from forms.base import MISSING, REASON, CrfForm, Warning
from forms.fields import field_for

DEAD = 6
#: Asked only after day 0: at day 0 these fields are removed from the form (not shown, a posted value is ignored).
OUTCOME_ONLY = ("method", "assessor_blinded")
PRESTROKE_HINT = "The patient's function before this stroke (premorbid), not the current deficit"


class MrsForm(CrfForm):
    # Required on completing, enforced in check(): the label differs at day 0, and a
    # class-level "required" message would carry the wrong one.
    score = field_for(ITEMS["score"])
    # A death (mRS 6) is usually confirmed from records or relatives: use the missing-data
    # code "not applicable" with that reason when neither way fits.
    method = field_for(ITEMS["method"])
    assessor_blinded = field_for(ITEMS["assessor_blinded"])

    def __init__(self, *args, **kwargs) -> None:
        """At day 0, the pre-stroke mRS: its own label, no grade 6, and no outcome questions."""
        super().__init__(*args, **kwargs)
        if self.context.is_baseline:
            self.score.label.text = PRESTROKE_LABEL
            self.score.description = PRESTROKE_HINT
            # A pre-stroke mRS cannot be 6 (dead).
            self.score.choices = [option for option in self.score.choices if option.value != DEAD]
            self.score.allowed = f"a grade from 0 to {DEAD - 1}"
            for name in OUTCOME_ONLY:
                for field_name in (name, name + MISSING, name + REASON):
                    del self[field_name]

    def check(self) -> None:
        """The score is required on completing."""
        self.require_if(True, "score", "to save as complete")

    def warnings(self) -> list[Warning]:
        """An unblinded outcome assessment; at day 0 a pre-stroke mRS the protocol's eligibility rules exclude."""
        if self.context.is_baseline:
            return self.eligibility_warnings("prestroke_mrs", self.value("score"), "score", PRESTROKE_LABEL)
        if self.value("assessor_blinded") is False:
            return [
                Warning(
                    "assessor_not_blinded",
                    "assessor_blinded",
                    "The assessor knew the treatment arm: confirm (where the outcome is to be assessed blinded, this is a protocol deviation to report).",
                )
            ]
        return []
