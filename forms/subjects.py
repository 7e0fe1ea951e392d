"""Enrolment form. The protocol decides its fields (index label and time, cohort choice)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice
from wtforms.validators import Optional

from ecrf.protocols.schema import IndexEvent
from forms.fields import NamedDateField, NamedTimeField, required

DATE_FORMAT = "enter it as YYYY-MM-DD"


def enrol_form_class(index: IndexEvent, arm_choices: list[tuple[str, str]]) -> type[FlaskForm]:
    """A form class for enrolling in one study."""

    class EnrolForm(FlaskForm):
        consent_date = NamedDateField("Informed consent date", validators=[required("Informed consent date", DATE_FORMAT)])
        index_date = NamedDateField(index.label, validators=[required(index.label, DATE_FORMAT)])

    if index.with_time:  # required by the enrolment service, which reports it with the other date problems
        EnrolForm.index_time = NamedTimeField(index.time_label, validators=[Optional()])
    if arm_choices:
        allowed = ", ".join(text for _, text in arm_choices)  # the service checks the value itself
        choices = [SelectChoice(value, text) for value, text in arm_choices]
        EnrolForm.arm = RadioField("Cohort", choices=choices, validate_choice=False, validators=[required("Cohort", f"choose one of {allowed}")])
    return EnrolForm
