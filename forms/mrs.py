"""Modified Rankin Scale: the pre-stroke mRS at day 0, the outcome mRS (how obtained, blinded assessor) at later visits."""
from __future__ import annotations

from forms.base import MISSING, REASON, CrfForm, Warning
from forms.fields import choice, graded, yes_no

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
DEAD = 6
METHODS = [("in_person", "In person"), ("telephone", "Telephone")]
#: Asked only after day 0: at day 0 these fields are removed from the form (not shown, a posted value is ignored).
OUTCOME_ONLY = ("method", "assessor_blinded")
PRESTROKE_LABEL = "Pre-stroke mRS"
PRESTROKE_HINT = "The patient's function before this stroke (premorbid), not the current deficit"


class MrsForm(CrfForm):
    # Required on completing, enforced in check(): the label differs at day 0, and a
    # class-level "required" message would carry the wrong one.
    score = graded("mRS score", GRADES, is_required=False, description="Function at this visit")
    # A death (mRS 6) is usually confirmed from records or relatives: use the missing-data
    # code "not applicable" with that reason when neither way fits.
    method = choice("How the mRS was obtained", METHODS)
    assessor_blinded = yes_no("Assessor blinded to the treatment arm")

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
            return [Warning(
                "assessor_not_blinded", "assessor_blinded",
                "The assessor knew the treatment arm: confirm (where the outcome is to be assessed blinded, this is a protocol deviation to report).",
            )]
        return []
