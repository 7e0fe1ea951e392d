"""Visit date form."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import Length, Optional

from forms.fields import NamedDateField, required


class VisitDateForm(FlaskForm):
    visit_date = NamedDateField("Visit date", validators=[required("Visit date", "enter the date the visit took place as YYYY-MM-DD")])
    deviation_reason = StringField(
        "Deviation reason (if outside the window)",
        validators=[
            Optional(),
            Length(max=500, message="Deviation reason: at most 500 characters."),
        ],
    )

    reason_for_change = StringField(
        "Reason for change",
        validators=[
            Optional(),
            Length(max=300, message="Reason for change: at most 300 characters."),
        ],
    )


class MissedVisitForm(FlaskForm):
    missed_reason = StringField(
        "Reason missed",
        validators=[
            required("Reason missed", "say why the visit did not take place"),
            Length(max=500, message="Reason missed: at most 500 characters."),
        ],
    )


class SignForm(FlaskForm):
    #: Asked at the first signature of a session only (21 CFR 11.200(a)(1)): then both components, later the password.
    email = StringField(
        "Your email (the account's)",
        validators=[
            Optional(),
            Length(max=254, message="Your email: at most 254 characters."),
        ],
    )
    password = PasswordField("Your password", validators=[required("Your password", "signing needs it again")])
