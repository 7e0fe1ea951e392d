"""Enrolment form. The protocol decides its fields (index label and time, cohort choice)."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice

from forms.fields import NamedDateField, NamedTimeField, required

DATE_FORMAT = "enter it as YYYY-MM-DD"


def enrol_form_class(index_label: str, with_time: bool, arm_choices: list[tuple[str, str]]) -> type[FlaskForm]:
    """A form class for enrolling in one study."""

    class EnrolForm(FlaskForm):
        consent_date = NamedDateField("Informed consent date", validators=[required("Informed consent date", DATE_FORMAT)])
        index_date = NamedDateField(index_label, validators=[required(index_label, DATE_FORMAT)])

    if with_time:
        label = f"{index_label} time"
        EnrolForm.index_time = NamedTimeField(label, validators=[required(label, "enter the site's local time as HH:MM")])
    if arm_choices:
        allowed = ", ".join(text for _, text in arm_choices)  # the service checks the value itself
        choices = [SelectChoice(value, text) for value, text in arm_choices]
        EnrolForm.arm = RadioField("Cohort", choices=choices, validate_choice=False, validators=[required("Cohort", f"choose one of {allowed}")])
    return EnrolForm
