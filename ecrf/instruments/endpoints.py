"""Endpoint events: one typed table for every event type; several entries per visit."""

from __future__ import annotations

from ecrf.crfs.items import Item, Kind, items
from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from ecrf.instruments.peripheral import FRACTURE_TYPES
from ecrf.instruments.stroke import HEIDELBERG_CLASSES

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

ITEMS = items(
    #: revascularization / amputation / myocardial_infarction / stroke / intracranial_haemorrhage /
    #: stent_fracture / device_thrombosis / death; the columns below are filled for their own type only.
    Item("event_type", "Event type", Kind.CHOICE, codes=EVENT_TYPES, missing=(), length=30),
    Item("event_date", "Event date", Kind.DATE),
    #: target_lesion / target_vessel / other.
    Item(
        "revasc_vessel",
        "Revascularized vessel",
        Kind.CHOICE,
        codes=REVASC_VESSELS,
        required=False,
        description="Target lesion (PARC): the treated segment plus 10 mm proximal and 10 mm distal to it.",
        length=15,
    ),
    Item(
        "revasc_clinically_driven",
        "Clinically driven",
        Kind.YES_NO,
        required=False,
        description="Yes when prompted by symptoms or an objective decline (e.g. ABI) with restenosis on imaging; no when done for imaging findings alone.",
    ),
    #: endovascular / surgical.
    Item("revasc_method", "Revascularization method", Kind.CHOICE, codes=REVASC_METHODS, required=False, length=15),
    #: major (at or above the ankle, PARC) / minor.
    Item("amputation_level", "Amputation level", Kind.CHOICE, codes=AMPUTATION_LEVELS, required=False),
    Item("amputation_side", "Amputation side", Kind.CHOICE, codes=SIDES, required=False),
    #: Planned before the index procedure (LEG-DEB reports planned and unplanned amputations apart).
    Item("amputation_planned", "Amputation planned before the index procedure", Kind.YES_NO, required=False),
    #: periprocedural / spontaneous.
    Item(
        "mi_type",
        "Myocardial infarction type",
        Kind.CHOICE,
        codes=MI_TYPES,
        required=False,
        description="Periprocedural: as the protocol defines it (cardiac marker threshold within 48-72 h of a procedure).",
        length=15,
    ),
    Item("mi_target_vessel", "Myocardial infarction related to the target vessel", Kind.YES_NO, required=False),
    #: ischaemic / haemorrhagic / undetermined.
    Item("stroke_type", "Stroke type", Kind.CHOICE, codes=STROKE_TYPES, required=False, length=15),
    Item("stroke_disabling", "Disabling stroke", Kind.YES_NO, required=False),
    #: Heidelberg Bleeding Classification: 1a, 1b, 1c, 2, 3a, 3b, 3c, 3d.
    Item("ich_class", "Heidelberg class", Kind.CHOICE, codes=HEIDELBERG_CLASSES, required=False),
    Item(
        "ich_symptomatic",
        "Symptomatic haemorrhage",
        Kind.YES_NO,
        required=False,
        description="Heidelberg: NIHSS up >= 4 points, or >= 2 in one item, or leading to intubation, hemicraniectomy or drainage, with no other explanation.",
    ),
    #: I, II, III, IV or V.
    Item("fracture_type", "Stent fracture type", Kind.CHOICE, codes=FRACTURE_TYPES, required=False),
    #: ARC: definite / probable / possible.
    Item("thrombosis_certainty", "Device thrombosis certainty", Kind.CHOICE, codes=THROMBOSIS_CERTAINTY, required=False, description=ARC_CERTAINTY, length=10),
    #: yes / no / unknown (the site's answer; "unknown" is not a missing value here).
    Item("death_cardiovascular", "Cardiovascular death", Kind.CHOICE, codes=YES_NO_UNKNOWN, required=False),
    Item(
        "death_cause",
        "Cause of death",
        Kind.TEXT,
        max_length=200,
        required=False,
        description="The medical cause only: no names or other details that identify anyone.",
    ),
    Item(
        "adjudication_note",
        "Note for adjudication",
        Kind.TEXT,
        max_length=1000,
        long=True,
        required=False,
        description="Optional, for the clinical events committee (circumstances, source documents). No names.",
    ),
)


def choice_text(name: str, value: object) -> str:
    """The text shown for a stored value of an item of this instrument ("major" -> "Major (at or above the ankle)")."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    label = ITEMS[name].code_label(value)
    return str(value) if label is None else label


def field_label(name: str) -> str:
    """The label of an item of this instrument."""
    return ITEMS.label(name)


class EndpointEventData(CrfData):
    __tablename__ = "endpoint_events_data"
    __items__ = ITEMS


def _short(name: str, value: object) -> str | None:
    """A choice as it reads inside a sentence: its text without the explanation in brackets, lower case."""
    return None if value is None else choice_text(name, value).split(" (")[0].lower()


def _named(qualifier: str | None, noun: str) -> str:
    """ "Major amputation", or "Amputation" while the qualifier is not entered."""
    return f"{qualifier.capitalize()} {noun}" if qualifier else noun.capitalize()


def _flag(value: bool | None, yes: str, no: str) -> str | None:
    return None if value is None else (yes if value else no)


def _headline(data: EndpointEventData) -> str:
    """The event in words, key details first ("Major amputation, left")."""
    kind = data.event_type
    if kind == "revascularization":
        parts = [
            _named(_short("revasc_vessel", data.revasc_vessel), "revascularization"),
            _flag(data.revasc_clinically_driven, "clinically driven", "not clinically driven"),
            _short("revasc_method", data.revasc_method),
        ]
    elif kind == "amputation":
        parts = [
            _named(_short("amputation_level", data.amputation_level), "amputation"),
            _short("amputation_side", data.amputation_side),
            _flag(data.amputation_planned, "planned before the index procedure", "unplanned"),
        ]
    elif kind == "myocardial_infarction":
        parts = [_named(_short("mi_type", data.mi_type), "myocardial infarction"), _flag(data.mi_target_vessel, "target vessel", "not target vessel")]
    elif kind == "stroke":
        parts = [_named(_short("stroke_type", data.stroke_type), "stroke"), _flag(data.stroke_disabling, "disabling", "non-disabling")]
    elif kind == "intracranial_haemorrhage":
        parts = [
            "Intracranial haemorrhage" + (f", Heidelberg {data.ich_class}" if data.ich_class else ""),
            _flag(data.ich_symptomatic, "symptomatic", "asymptomatic"),
        ]
    elif kind == "stent_fracture":
        parts = ["Stent fracture" + (f" type {data.fracture_type}" if data.fracture_type else "")]
    elif kind == "device_thrombosis":
        parts = ["Device thrombosis" + (f" ({data.thrombosis_certainty})" if data.thrombosis_certainty else "")]
    elif kind == "death":
        cardiovascular = {"yes": "cardiovascular", "no": "non-cardiovascular", "unknown": "unknown whether cardiovascular"}
        parts = ["Death", cardiovascular.get(data.death_cardiovascular or "")]
    else:
        parts = ["Event type not entered"]
    return ", ".join(part for part in parts if part)


def describe(data: EndpointEventData) -> str:
    """One line for lists, e.g. "Major amputation, left, 2026-05-03"."""
    when = data.event_date.isoformat() if data.event_date else "date not entered"
    return f"{_headline(data)}, {when}"


def results(data: EndpointEventData) -> list[tuple[str, str]]:
    """The event in words, then its type's details one per line."""
    details = [(field_label(name), choice_text(name, getattr(data, name))) for name in TYPE_FIELDS.get(data.event_type or "", ())]
    return [("Event", describe(data)), *details]


INSTRUMENTS = [Instrument("endpoint_events", EndpointEventData, repeating=True, results=results, describe=describe)]
