"""The instrument codes protocol files may place on visits.

Each code names one case report form. The forms themselves (WTForms class and
typed table per code) are registered against these codes by the instruments
module; a protocol file naming any other code is refused when it is loaded.
"""

from __future__ import annotations

#: code -> label shown to users, in the order forms usually appear on a visit.
INSTRUMENTS: dict[str, str] = {
    "medical_history": "Medical history and risk factors",
    "lesion_peripheral": "Target lesion (peripheral)",
    "procedure_peripheral": "Procedure (peripheral)",
    "procedure_coronary": "Procedure and calcium modification (coronary)",
    "perioperative_events": "Perioperative events and cardiac markers",
    "procedure_stroke": "Thrombectomy and rescue treatment",
    "procedure_dvt": "DVT presentation and treatment",
    "nihss": "NIH Stroke Scale",
    "aspects": "ASPECTS / pc-ASPECTS",
    "mrs": "Modified Rankin Scale",
    "imaging_ich": "Safety imaging: intracranial haemorrhage",
    "abi": "Ankle-brachial index",
    # The same ABI form and table, entered once more at the index procedure (or before discharge): the value the
    # procedure achieved, from which a later fall is measured (safety rules, PARC).
    "abi_post": "Ankle-brachial index after the procedure (at the procedure or discharge)",
    "rutherford": "Rutherford category",
    "duplex": "Duplex ultrasound",
    "villalta": "Villalta score",
    "anticoagulation": "Anticoagulation status",
    "qfr": "Angiography with QFR",
    "stent_fracture": "Stent fracture (x-ray)",
    "endpoint_events": "Endpoint events",
    "adverse_events": "Adverse events",
}
