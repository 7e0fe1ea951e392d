"""Field types whose error messages name the field and say what is allowed."""
from __future__ import annotations

from wtforms import DateField, TimeField
from wtforms.validators import InputRequired

from ecrf.errors import InvalidInput


class NamedDateField(DateField):
    """A date entered as YYYY-MM-DD (the browser's date picker sends that)."""

    widget_input_type = "date"

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{self.label.text}: not a valid date; enter it as YYYY-MM-DD.") from None


class NamedTimeField(TimeField):
    """A time of day entered as HH:MM (24-hour)."""

    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{self.label.text}: not a valid time; enter it as HH:MM (24-hour).") from None


def required(label: str, allowed: str) -> InputRequired:
    """InputRequired whose message names the field and what it takes."""
    return InputRequired(message=f"{label}: required; {allowed}.")


def show_errors(form, error: InvalidInput) -> None:
    """Put a service's messages on the fields they name, or on the form when no field is named."""
    for field, message in error.problems:
        target = getattr(form, field, None) if field else None
        (target.errors if target is not None else form.form_errors).append(message)
