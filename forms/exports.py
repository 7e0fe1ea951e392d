"""The exports page's form: format, sites, and for the audit trail a date range."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField

from ecrf.exports.models import FORMAT_LABELS
from forms.fields import choice, date_field


class ExportForm(FlaskForm):
    format = choice("Format", list(FORMAT_LABELS.items()))
    #: Checked boxes, one per site the user may export (the service refuses any other, naming it).
    sites = SelectMultipleField("Sites", validate_choice=False)
    date_from = date_field("From", is_required=False, description="Audit trail only: the first day (UTC) of the events; empty: from the start.")
    date_to = date_field("To", is_required=False, description="Audit trail only: the last day (UTC); empty: up to now.")

    def fill_choices(self, formats: list[str], site_codes: list[str]) -> ExportForm:
        """The formats the user may choose and their sites (every site checked by default)."""
        self.format.choices = [SelectChoice(value, FORMAT_LABELS[value]) for value in formats]
        self.format.allowed = "one of " + ", ".join(FORMAT_LABELS[value] for value in formats)
        self.sites.choices = [(code, code) for code in site_codes]
        if not self.is_submitted():
            self.sites.data = list(site_codes)
            self.format.data = self.format.data or "csv"
        return self
