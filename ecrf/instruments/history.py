"""Medical history and risk factors: typed table (no computed values)."""
from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.history import MedicalHistoryForm


class MedicalHistoryData(CrfData):
    __tablename__ = "medical_history_data"

    diabetes: Mapped[bool | None]
    #: diet / oral / insulin (the most intensive current treatment); only when diabetic.
    diabetes_treatment: Mapped[str | None] = mapped_column(String(10))
    hypertension: Mapped[bool | None]
    hyperlipidaemia: Mapped[bool | None]
    #: never / former / current.
    smoking: Mapped[str | None] = mapped_column(String(10))
    chronic_kidney_disease: Mapped[bool | None]
    coronary_artery_disease: Mapped[bool | None]
    prior_stroke: Mapped[bool | None]
    prior_amputation_target_limb: Mapped[bool | None]


INSTRUMENTS = [Instrument("medical_history", MedicalHistoryForm, MedicalHistoryData)]
