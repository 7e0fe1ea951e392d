"""Endpoint events: one typed table for every event type; several entries per visit."""
from __future__ import annotations

from datetime import date

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.crfs.models import CrfData
from ecrf.crfs.registry import Instrument
from forms.endpoints import TYPE_FIELDS, EndpointEventForm, choice_text, field_label


class EndpointEventData(CrfData):
    __tablename__ = "endpoint_events_data"

    #: revascularization / amputation / myocardial_infarction / stroke / intracranial_haemorrhage /
    #: stent_fracture / device_thrombosis / death; the columns below are filled for their own type only.
    event_type: Mapped[str | None] = mapped_column(String(30))
    event_date: Mapped[date | None]
    #: target_lesion / target_vessel / other.
    revasc_vessel: Mapped[str | None] = mapped_column(String(15))
    revasc_clinically_driven: Mapped[bool | None]
    #: endovascular / surgical.
    revasc_method: Mapped[str | None] = mapped_column(String(15))
    #: major (at or above the ankle, PARC) / minor.
    amputation_level: Mapped[str | None] = mapped_column(String(5))
    amputation_side: Mapped[str | None] = mapped_column(String(5))
    #: Planned before the index procedure (LEG-DEB reports planned and unplanned amputations apart).
    amputation_planned: Mapped[bool | None]
    #: periprocedural / spontaneous.
    mi_type: Mapped[str | None] = mapped_column(String(15))
    mi_target_vessel: Mapped[bool | None]
    #: ischaemic / haemorrhagic / undetermined.
    stroke_type: Mapped[str | None] = mapped_column(String(15))
    stroke_disabling: Mapped[bool | None]
    #: Heidelberg Bleeding Classification: 1a, 1b, 1c, 2, 3a, 3b, 3c, 3d.
    ich_class: Mapped[str | None] = mapped_column(String(2))
    ich_symptomatic: Mapped[bool | None]
    #: I, II, III, IV or V.
    fracture_type: Mapped[str | None] = mapped_column(String(3))
    #: ARC: definite / probable / possible.
    thrombosis_certainty: Mapped[str | None] = mapped_column(String(10))
    #: yes / no / unknown (the site's answer; "unknown" is not a missing value here).
    death_cardiovascular: Mapped[str | None] = mapped_column(String(7))
    death_cause: Mapped[str | None] = mapped_column(String(200))
    adjudication_note: Mapped[str | None] = mapped_column(Text)


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
        parts = [_named(_short("revasc_vessel", data.revasc_vessel), "revascularization"),
                 _flag(data.revasc_clinically_driven, "clinically driven", "not clinically driven"), _short("revasc_method", data.revasc_method)]
    elif kind == "amputation":
        parts = [_named(_short("amputation_level", data.amputation_level), "amputation"), _short("amputation_side", data.amputation_side),
                 _flag(data.amputation_planned, "planned before the index procedure", "unplanned")]
    elif kind == "myocardial_infarction":
        parts = [_named(_short("mi_type", data.mi_type), "myocardial infarction"), _flag(data.mi_target_vessel, "target vessel", "not target vessel")]
    elif kind == "stroke":
        parts = [_named(_short("stroke_type", data.stroke_type), "stroke"), _flag(data.stroke_disabling, "disabling", "non-disabling")]
    elif kind == "intracranial_haemorrhage":
        parts = ["Intracranial haemorrhage" + (f", Heidelberg {data.ich_class}" if data.ich_class else ""),
                 _flag(data.ich_symptomatic, "symptomatic", "asymptomatic")]
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
    return [("Event", describe(data))] + details


INSTRUMENTS = [Instrument("endpoint_events", EndpointEventForm, EndpointEventData, repeating=True, results=results, describe=describe)]
