"""Endpoint events: each type's details are required for it and refused for the others; lines for lists."""

from __future__ import annotations

from datetime import date

import pytest

from ecrf.instruments.endpoints import EndpointEventData, describe, results
from forms.endpoints import TYPE_FIELDS, EndpointEventForm

#: A valid complete entry, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "endpoint_events": {
        "event_type": "amputation",
        "event_date": "2026-01-01",
        "amputation_level": "major",
        "amputation_side": "left",
        "amputation_planned": "False",
    },
}

#: A complete set of details per event type.
DETAILS = {
    "revascularization": {"revasc_vessel": "target_lesion", "revasc_clinically_driven": "True", "revasc_method": "endovascular"},
    "amputation": {"amputation_level": "minor", "amputation_side": "right", "amputation_planned": "True"},
    "myocardial_infarction": {"mi_type": "periprocedural", "mi_target_vessel": "True"},
    "stroke": {"stroke_type": "ischaemic", "stroke_disabling": "False"},
    "intracranial_haemorrhage": {"ich_class": "2", "ich_symptomatic": "True"},
    "stent_fracture": {"fracture_type": "III"},
    "device_thrombosis": {"thrombosis_certainty": "probable"},
    "death": {"death_cardiovascular": "unknown", "death_cause": "Sudden death at home"},
}


def _event(event_type: str, **extra) -> dict:
    return {"event_type": event_type, "event_date": "2026-03-10", **DETAILS[event_type], **extra}


def test_the_example_is_valid(posted, context):
    form, valid = posted(EndpointEventForm, EXAMPLES["endpoint_events"], context("defier", "m1"))
    assert valid, form.errors


def test_every_type_has_details_in_the_form():
    assert set(DETAILS) == set(TYPE_FIELDS)
    assert {name for names in TYPE_FIELDS.values() for name in names} <= set(EndpointEventForm.data_field_names())


@pytest.mark.parametrize("event_type", sorted(DETAILS))
def test_each_type_with_its_details_is_valid(posted, context, event_type):
    form, valid = posted(EndpointEventForm, _event(event_type), context())
    assert valid, form.errors


@pytest.mark.parametrize("event_type", sorted(DETAILS))
def test_each_types_details_are_required_on_completing(posted, context, event_type):
    form, valid = posted(EndpointEventForm, {"event_type": event_type, "event_date": "2026-03-10"}, context())
    assert not valid
    assert {name for name, errors in form.errors.items() if errors} == set(TYPE_FIELDS[event_type])


def test_required_detail_message_names_the_type(posted, context):
    form, _ = posted(EndpointEventForm, _event("amputation", amputation_side=""), context())
    assert form.amputation_side.errors == ["Amputation side: required for an amputation."]


def test_a_draft_may_leave_the_details_empty(posted, context):
    form, valid = posted(EndpointEventForm, {"event_type": "stroke"}, context(), complete=False)
    assert valid, form.errors


def test_details_of_another_type_are_refused_even_in_a_draft(posted, context):
    form, valid = posted(EndpointEventForm, _event("stroke", amputation_level="major"), context(), complete=False)
    assert not valid
    assert form.amputation_level.errors == ["Amputation level: leave empty for a stroke (it is for an amputation)."]


def test_a_missing_code_satisfies_a_required_detail(posted, context):
    values = _event("death", death_cause="", death_cause__missing="unknown", death_cause__reason="no autopsy, no records")
    form, valid = posted(EndpointEventForm, values, context())
    assert valid, form.errors


@pytest.mark.parametrize("code", ["not_done", "unknown", "not_applicable"])
@pytest.mark.parametrize("complete", [True, False])
def test_the_event_type_cannot_be_given_a_missing_data_code(posted, context, code, complete):
    values = {"event_type": "", "event_type__missing": code, "event_type__reason": "not told", "event_date": "2026-03-10"}
    form, valid = posted(EndpointEventForm, values, context(), complete=complete)
    assert not valid
    assert form.event_type.errors == [f"Event type: cannot be given a missing-data code ({code.replace('_', ' ')}); it must be answered."]
    assert form.missing_map() == {}
    assert [choice.value for choice in form.event_type__missing.choices] == [""]  # the page offers no code for it


def test_event_date_lies_between_day_0_and_today(posted, context):
    form, valid = posted(EndpointEventForm, _event("stroke", event_date="2025-12-31"), context())
    assert not valid
    assert form.event_date.errors == ["Event date: must not be before day 0 (2026-01-01)."]
    form, valid = posted(EndpointEventForm, _event("stroke", event_date="2027-06-02"), context())
    assert form.event_date.errors == ["Event date: must not be after today at the site (2027-06-01)."]


def test_an_unknown_heidelberg_class_is_refused(posted, context):
    form, valid = posted(EndpointEventForm, _event("intracranial_haemorrhage", ich_class="4"), context())
    assert not valid
    assert form.ich_class.errors[0].startswith("Heidelberg class: choose one of 1a HI1")


@pytest.mark.parametrize(
    ("values", "line"),
    [
        (
            {"event_type": "amputation", "amputation_level": "major", "amputation_side": "left", "amputation_planned": False},
            "Major amputation, left, unplanned, 2026-05-03",
        ),
        (
            {"event_type": "amputation", "amputation_level": "minor", "amputation_side": "right", "amputation_planned": True},
            "Minor amputation, right, planned before the index procedure, 2026-05-03",
        ),
        (
            {"event_type": "revascularization", "revasc_vessel": "target_lesion", "revasc_clinically_driven": True, "revasc_method": "endovascular"},
            "Target lesion revascularization, clinically driven, endovascular, 2026-05-03",
        ),
        (
            {"event_type": "myocardial_infarction", "mi_type": "spontaneous", "mi_target_vessel": False},
            "Spontaneous myocardial infarction, not target vessel, 2026-05-03",
        ),
        ({"event_type": "stroke", "stroke_type": "haemorrhagic", "stroke_disabling": True}, "Haemorrhagic stroke, disabling, 2026-05-03"),
        (
            {"event_type": "intracranial_haemorrhage", "ich_class": "1c", "ich_symptomatic": False},
            "Intracranial haemorrhage, Heidelberg 1c, asymptomatic, 2026-05-03",
        ),
        ({"event_type": "stent_fracture", "fracture_type": "IV"}, "Stent fracture type IV, 2026-05-03"),
        ({"event_type": "device_thrombosis", "thrombosis_certainty": "definite"}, "Device thrombosis (definite), 2026-05-03"),
        ({"event_type": "death", "death_cardiovascular": "yes"}, "Death, cardiovascular, 2026-05-03"),
        ({"event_type": "amputation"}, "Amputation, 2026-05-03"),
    ],
)
def test_describe_gives_type_and_key_details(values, line):
    assert describe(EndpointEventData(event_date=date(2026, 5, 3), **values)) == line


def test_describe_an_empty_draft():
    assert describe(EndpointEventData()) == "Event type not entered, date not entered"


def test_results_list_the_types_details():
    data = EndpointEventData(event_type="death", event_date=date(2026, 5, 3), death_cardiovascular="no", death_cause="Pneumonia")
    assert results(data) == [
        ("Event", "Death, non-cardiovascular, 2026-05-03"),
        ("Cardiovascular death", "No"),
        ("Cause of death", "Pneumonia"),
    ]
