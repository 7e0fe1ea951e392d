"""Enrolment form. The protocol decides its fields (index label and time, cohort choice)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectChoice, TextAreaField
from wtforms.validators import Length, Optional

from ecrf.protocols.schema import IndexEvent
from forms.fields import NamedDateField, NamedTimeField, required

DATE_FORMAT = "enter it as YYYY-MM-DD"


def enrol_form_class(index: IndexEvent, arm_choices: list[tuple[str, str]]) -> type[FlaskForm]:
    """A form class for enrolling in one study. Where day 0 is the randomization, it is not asked: it is now."""

    class EnrolForm(FlaskForm):
        consent_date = NamedDateField("Informed consent date", validators=[required("Informed consent date", DATE_FORMAT)])

    if index.event != "randomization":
        EnrolForm.index_date = NamedDateField(index.label, validators=[required(index.label, DATE_FORMAT)])
        if index.with_time:  # required by the enrolment service, which reports it with the other date problems
            EnrolForm.index_time = NamedTimeField(index.time_label, validators=[Optional()])
    if arm_choices:
        allowed = ", ".join(text for _, text in arm_choices)  # the service checks the value itself
        choices = [SelectChoice(value, text) for value, text in arm_choices]
        EnrolForm.arm = RadioField("Cohort", choices=choices, validate_choice=False, validators=[required("Cohort", f"choose one of {allowed}")])
    return EnrolForm


class EndParticipationForm(FlaskForm):
    status = RadioField(
        "Leaves the study because",
        validate_choice=False,
        choices=[
            SelectChoice("withdrawn", "Withdrawn (consent withdrawn or investigator's decision)"),
            SelectChoice("lost_to_follow_up", "Lost to follow-up"),
            SelectChoice("died", "Died"),
        ],
        validators=[required("Leaves the study because", "choose withdrawn, lost to follow-up or died")],
    )
    status_date = NamedDateField("Date", validators=[required("Date", DATE_FORMAT)])
    reason = TextAreaField("Reason", validators=[Length(max=500, message="Reason: at most 500 characters.")])
