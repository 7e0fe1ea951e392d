"""Endpoint events: one entry per event (revascularization, amputation, MI, stroke, ICH, stent fracture,
device thrombosis, death), with the details of its type (clinical.md §8).

Every type-specific field is optional in the field definition and required in `check()` for its own
type only; a value left in a field of another type (e.g. after changing the type) is refused rather
than stored silently.
"""

from __future__ import annotations

# The same classifications as the safety-imaging and stent-fracture forms, so the codes agree across forms:
# Heidelberg classes 1a-3d (clinical.md §8.5) and stent fracture types I-V (Jaff / Rocha-Singh; not in clinical.md).
from ecrf.instruments.endpoints import EVENT_TYPES, ITEMS, TYPE_FIELDS
from forms.base import CrfForm
from forms.fields import field_for


class EndpointEventForm(CrfForm):
    #: Every rule and flag reads the type, and "unknown type" is no event: it must be answered, never coded missing.
    event_type = field_for(ITEMS["event_type"])
    event_date = field_for(ITEMS["event_date"])
    # Revascularization
    revasc_vessel = field_for(ITEMS["revasc_vessel"])
    revasc_clinically_driven = field_for(ITEMS["revasc_clinically_driven"])
    revasc_method = field_for(ITEMS["revasc_method"])
    # Amputation
    amputation_level = field_for(ITEMS["amputation_level"])
    amputation_side = field_for(ITEMS["amputation_side"])
    amputation_planned = field_for(ITEMS["amputation_planned"])
    # Myocardial infarction
    mi_type = field_for(ITEMS["mi_type"])
    mi_target_vessel = field_for(ITEMS["mi_target_vessel"])
    # Stroke
    stroke_type = field_for(ITEMS["stroke_type"])
    stroke_disabling = field_for(ITEMS["stroke_disabling"])
    # Intracranial haemorrhage on imaging
    ich_class = field_for(ITEMS["ich_class"])
    ich_symptomatic = field_for(ITEMS["ich_symptomatic"])
    # Stent fracture
    fracture_type = field_for(ITEMS["fracture_type"])
    # Device thrombosis
    thrombosis_certainty = field_for(ITEMS["thrombosis_certainty"])
    # Death
    death_cardiovascular = field_for(ITEMS["death_cardiovascular"])
    death_cause = field_for(ITEMS["death_cause"])
    adjudication_note = field_for(ITEMS["adjudication_note"])

    def check(self) -> None:
        """The event date lies in the study; each type's fields are required for it and empty otherwise."""
        self.check_date_in_study("event_date")
        event_type = self.value("event_type")
        if not event_type:
            return
        type_text = dict(EVENT_TYPES)[event_type].lower()
        for owner, names in TYPE_FIELDS.items():
            owner_text = dict(EVENT_TYPES)[owner].lower()
            for name in names:
                self.only_if(owner == event_type, name, f"for {_article(owner_text)}", f"for {_article(type_text)} (it is for {_article(owner_text)})")


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun
