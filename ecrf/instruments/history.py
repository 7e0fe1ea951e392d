"""Medical history and risk factors: typed table (no computed values)."""

from __future__ import annotations

from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument

#: The most intensive current treatment counts (insulin with tablets is "insulin"); non-insulin injectables
#: (e.g. GLP-1 agonists) count with the tablets, as "non-insulin drugs".
DIABETES_TREATMENTS = [
    ("diet", "Diet only"),
    ("oral", "Oral or other non-insulin drugs"),
    ("insulin", "Insulin (with or without other drugs)"),
]

SMOKING = [("never", "Never"), ("former", "Former"), ("current", "Current")]


ITEMS = items(
    Item("diabetes", "Diabetes mellitus", Kind.YES_NO),
    #: diet / oral / insulin (the most intensive current treatment); only when diabetic.
    Item("diabetes_treatment", "Diabetes treatment", Kind.CHOICE, codes=DIABETES_TREATMENTS, required=False, length=10),
    Item("hypertension", "Hypertension", Kind.YES_NO),
    Item("hyperlipidaemia", "Hyperlipidaemia", Kind.YES_NO),
    #: never / former / current.
    Item("smoking", "Smoking", Kind.CHOICE, codes=SMOKING, length=10),
    Item("chronic_kidney_disease", "Chronic kidney disease", Kind.YES_NO),
    Item("coronary_artery_disease", "Coronary artery disease", Kind.YES_NO),
    Item("prior_stroke", "Prior stroke", Kind.YES_NO),
    Item("prior_amputation_target_limb", "Prior amputation of the target limb", Kind.YES_NO, description="Minor or major."),
)


class MedicalHistoryData(CrfData):
    __tablename__ = "medical_history_data"

    __items__ = ITEMS


INSTRUMENTS = [Instrument("medical_history", MedicalHistoryData)]
