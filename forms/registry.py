"""The WTForms form of each instrument code, attached to `ecrf.crfs.registry` when this module is imported
(the views import it; `ecrf/` never imports `forms/`)."""

from __future__ import annotations

from ecrf.crfs.registry import attach_form
from forms.abi import AbiForm
from forms.adverse_events import AdverseEventForm
from forms.base import CrfForm
from forms.coronary import PerioperativeEventsForm, ProcedureCoronaryForm, QfrForm
from forms.duplex import DuplexForm
from forms.dvt import AnticoagulationForm, ProcedureDvtForm
from forms.endpoints import EndpointEventForm
from forms.history import MedicalHistoryForm
from forms.mrs import MrsForm
from forms.nihss import AspectsForm, NihssForm
from forms.peripheral import (
    LesionPeripheralForm,
    ProcedurePeripheralForm,
    StentFractureForm,
)
from forms.rutherford import RutherfordForm
from forms.stroke import ImagingIchForm, ProcedureStrokeForm
from forms.villalta import VillaltaForm

#: instrument code -> form class.
FORMS: dict[str, type[CrfForm]] = {
    "abi": AbiForm,
    "abi_post": AbiForm,
    "adverse_events": AdverseEventForm,
    "procedure_coronary": ProcedureCoronaryForm,
    "perioperative_events": PerioperativeEventsForm,
    "qfr": QfrForm,
    "duplex": DuplexForm,
    "procedure_dvt": ProcedureDvtForm,
    "anticoagulation": AnticoagulationForm,
    "endpoint_events": EndpointEventForm,
    "medical_history": MedicalHistoryForm,
    "mrs": MrsForm,
    "nihss": NihssForm,
    "aspects": AspectsForm,
    "lesion_peripheral": LesionPeripheralForm,
    "procedure_peripheral": ProcedurePeripheralForm,
    "stent_fracture": StentFractureForm,
    "rutherford": RutherfordForm,
    "procedure_stroke": ProcedureStrokeForm,
    "imaging_ich": ImagingIchForm,
    "villalta": VillaltaForm,
}


def form_for(code: str) -> type[CrfForm]:
    """The form class of an instrument code (KeyError if none)."""
    return FORMS[code]


for _code, _form in FORMS.items():
    attach_form(_code, _form)
