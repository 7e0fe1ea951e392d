"""Endpoint events: one entry per event (revascularization, amputation, MI, stroke, ICH, stent fracture,
device thrombosis, death), with the details of its type (clinical.md §8).

Every type-specific field is optional in the field definition and required in `check()` for its own
type only; a value left in a field of another type (e.g. after changing the type) is refused rather
than stored silently.
"""
from __future__ import annotations

from forms.base import CrfForm, may_be_missing
from forms.fields import choice, date_field, text, yes_no
# The same classifications as the safety-imaging and stent-fracture forms, so the codes agree across forms:
# Heidelberg classes 1a-3d (clinical.md §8.5) and stent fracture types I-V (Jaff / Rocha-Singh; not in clinical.md).
from forms.peripheral import FRACTURE_TYPES
from forms.stroke import HEIDELBERG_CLASSES

EVENT_TYPES = [
    ("revascularization", "Revascularization"),
    ("amputation", "Amputation"),
    ("myocardial_infarction", "Myocardial infarction"),
    ("stroke", "Stroke"),
    ("intracranial_haemorrhage", "Intracranial haemorrhage on imaging"),
    ("stent_fracture", "Stent fracture"),
    ("device_thrombosis", "Device thrombosis"),
    ("death", "Death"),
]
REVASC_VESSELS = [
    ("target_lesion", "Target lesion"),
    ("target_vessel", "Target vessel (outside the target lesion)"),
    ("other", "Other vessel"),
]
REVASC_METHODS = [("endovascular", "Endovascular"), ("surgical", "Surgical")]
#: PARC (clinical.md §8.2): major = at or above the ankle.
AMPUTATION_LEVELS = [("major", "Major (at or above the ankle)"), ("minor", "Minor (below the ankle)")]
SIDES = [("right", "Right"), ("left", "Left")]
MI_TYPES = [("periprocedural", "Periprocedural"), ("spontaneous", "Spontaneous")]
STROKE_TYPES = [("ischaemic", "Ischaemic"), ("haemorrhagic", "Haemorrhagic"), ("undetermined", "Undetermined")]
#: ARC certainty (clinical.md §8.4).
THROMBOSIS_CERTAINTY = [("definite", "Definite"), ("probable", "Probable"), ("possible", "Possible")]
ARC_CERTAINTY = (
    "ARC: definite = confirmed by angiography or pathology; probable = unexplained death within 30 days, or MI "
    "in the device's territory without angiographic confirmation; possible = unexplained death after 30 days."
)
#: A tri-state answer, not yes/no plus a missing code: "unknown" is the site's clinical answer. (ARC counts a
#: death as cardiac unless a non-cardiac cause is established; not in clinical.md: the analysis applies it, not the form.)
YES_NO_UNKNOWN = [("yes", "Yes"), ("no", "No"), ("unknown", "Unknown")]

#: The fields that belong to each event type, in paper order.
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "revascularization": ("revasc_vessel", "revasc_clinically_driven", "revasc_method"),
    "amputation": ("amputation_level", "amputation_side", "amputation_planned"),
    "myocardial_infarction": ("mi_type", "mi_target_vessel"),
    "stroke": ("stroke_type", "stroke_disabling"),
    "intracranial_haemorrhage": ("ich_class", "ich_symptomatic"),
    "stent_fracture": ("fracture_type",),
    "device_thrombosis": ("thrombosis_certainty",),
    "death": ("death_cardiovascular", "death_cause"),
}


class EndpointEventForm(CrfForm):
    #: Every rule and flag reads the type, and "unknown type" is no event: it must be answered, never coded missing.
    event_type = may_be_missing(choice("Event type", EVENT_TYPES))
    event_date = date_field("Event date")
    # Revascularization
    revasc_vessel = choice(
        "Revascularized vessel", REVASC_VESSELS, is_required=False,
        description="Target lesion (PARC): the treated segment plus 10 mm proximal and 10 mm distal to it.",
    )
    revasc_clinically_driven = yes_no(
        "Clinically driven", is_required=False,
        description="Yes when prompted by symptoms or an objective decline (e.g. ABI) with restenosis on imaging; "
                    "no when done for imaging findings alone.",
    )
    revasc_method = choice("Revascularization method", REVASC_METHODS, is_required=False)
    # Amputation
    amputation_level = choice("Amputation level", AMPUTATION_LEVELS, is_required=False)
    amputation_side = choice("Amputation side", SIDES, is_required=False)
    amputation_planned = yes_no("Amputation planned before the index procedure", is_required=False)
    # Myocardial infarction
    mi_type = choice(
        "Myocardial infarction type", MI_TYPES, is_required=False,
        description="Periprocedural: as the protocol defines it (cardiac marker threshold within 48-72 h of a procedure).",
    )
    mi_target_vessel = yes_no("Myocardial infarction related to the target vessel", is_required=False)
    # Stroke
    stroke_type = choice("Stroke type", STROKE_TYPES, is_required=False)
    stroke_disabling = yes_no("Disabling stroke", is_required=False)
    # Intracranial haemorrhage on imaging
    ich_class = choice("Heidelberg class", HEIDELBERG_CLASSES, is_required=False)
    ich_symptomatic = yes_no(
        "Symptomatic haemorrhage", is_required=False,
        description="Heidelberg: NIHSS up >= 4 points, or >= 2 in one item, or leading to intubation, "
                    "hemicraniectomy or drainage, with no other explanation.",
    )
    # Stent fracture
    fracture_type = choice("Stent fracture type", FRACTURE_TYPES, is_required=False)
    # Device thrombosis
    thrombosis_certainty = choice("Device thrombosis certainty", THROMBOSIS_CERTAINTY, is_required=False, description=ARC_CERTAINTY)
    # Death
    death_cardiovascular = choice("Cardiovascular death", YES_NO_UNKNOWN, is_required=False)
    death_cause = text(
        "Cause of death", 200, is_required=False,
        description="The medical cause only: no names or other details that identify anyone.",
    )
    adjudication_note = text(
        "Note for adjudication", 1000, long=True, is_required=False,
        description="Optional, for the clinical events committee (circumstances, source documents). No names.",
    )

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
                self.only_if(owner == event_type, name, f"for {_article(owner_text)}",
                          f"for {_article(type_text)} (it is for {_article(owner_text)})")


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def choice_text(name: str, value: object) -> str:
    """The text shown for a stored value of a field of this form ("major" -> "Major (at or above the ankle)")."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    choices = getattr(EndpointEventForm, name).kwargs.get("choices") or []
    return next((option.label for option in choices if option.value == value), str(value))


def field_label(name: str) -> str:
    """The label of a field of this form."""
    return getattr(EndpointEventForm, name).args[0]
