"""Visit date form."""
from flask_wtf import FlaskForm

from forms.fields import NamedDateField, required


class VisitDateForm(FlaskForm):
    visit_date = NamedDateField("Visit date", validators=[required("Visit date", "enter the date the visit took place as YYYY-MM-DD")])
