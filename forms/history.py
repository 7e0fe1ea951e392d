"""Medical history and cardiovascular risk factors at baseline. No names or birth dates: never asked here."""
from __future__ import annotations

from forms.base import CrfForm
from forms.fields import choice, yes_no

#: The most intensive current treatment counts (insulin with tablets is "insulin"); non-insulin injectables
#: (e.g. GLP-1 agonists) count with the tablets, as "non-insulin drugs".
DIABETES_TREATMENTS = [
    ("diet", "Diet only"), ("oral", "Oral or other non-insulin drugs"), ("insulin", "Insulin (with or without other drugs)"),
]
SMOKING = [("never", "Never"), ("former", "Former"), ("current", "Current")]


class MedicalHistoryForm(CrfForm):
    # LEG-DEB reports its results by diabetes status, so diabetes is asked first and its treatment with it.
    diabetes = yes_no("Diabetes mellitus")
    diabetes_treatment = choice("Diabetes treatment", DIABETES_TREATMENTS, is_required=False)
    hypertension = yes_no("Hypertension")
    hyperlipidaemia = yes_no("Hyperlipidaemia")
    # No cut-off for "former" (e.g. stopped > 1 year ago) is given anywhere in the project: the site's notes decide.
    smoking = choice("Smoking", SMOKING)
    chronic_kidney_disease = yes_no("Chronic kidney disease")
    coronary_artery_disease = yes_no("Coronary artery disease")
    prior_stroke = yes_no("Prior stroke")
    prior_amputation_target_limb = yes_no("Prior amputation of the target limb", description="Minor or major.")

    def check(self) -> None:
        """A diabetes treatment exactly when the patient has diabetes."""
        self.only_if(self.yes("diabetes"), "diabetes_treatment", "when the patient has diabetes", "when the patient has no diabetes")
