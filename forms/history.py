"""Medical history and cardiovascular risk factors at baseline. No names or birth dates: never asked here."""

from __future__ import annotations

from ecrf.instruments.history import ITEMS
from forms.base import CrfForm
from forms.fields import field_for


class MedicalHistoryForm(CrfForm):
    # LEG-DEB reports its results by diabetes status, so diabetes is asked first and its treatment with it.
    diabetes = field_for(ITEMS["diabetes"])
    diabetes_treatment = field_for(ITEMS["diabetes_treatment"])
    hypertension = field_for(ITEMS["hypertension"])
    hyperlipidaemia = field_for(ITEMS["hyperlipidaemia"])
    # No cut-off for "former" (e.g. stopped > 1 year ago) is given anywhere in the project: the site's notes decide.
    smoking = field_for(ITEMS["smoking"])
    chronic_kidney_disease = field_for(ITEMS["chronic_kidney_disease"])
    coronary_artery_disease = field_for(ITEMS["coronary_artery_disease"])
    prior_stroke = field_for(ITEMS["prior_stroke"])
    prior_amputation_target_limb = field_for(ITEMS["prior_amputation_target_limb"])

    def check(self) -> None:
        """A diabetes treatment exactly when the patient has diabetes."""
        self.only_if(self.yes("diabetes"), "diabetes_treatment", "when the patient has diabetes", "when the patient has no diabetes")
