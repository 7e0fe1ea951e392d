"""Log-in and password forms."""

from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from ecrf.auth.passwords import MAX_LENGTH, MIN_LENGTH
from forms.fields import email_field

#: What a new password must be (shown under the field; the policy's messages say the same per rule).
NEW_PASSWORD_HELP = (
    f"At least {MIN_LENGTH} characters (up to {MAX_LENGTH}); spaces are allowed, so a few unrelated words "
    "make a good one. Not your email address, not a common password."
)


def _new_password(label: str = "New password") -> PasswordField:
    return PasswordField(
        label,
        description=NEW_PASSWORD_HELP,
        validators=[
            InputRequired(message=f"{label}: required; enter at least {MIN_LENGTH} characters."),
            Length(max=MAX_LENGTH, message=f"{label}: at most {MAX_LENGTH} characters."),
        ],
    )


def _repeat(label: str = "Repeat the new password") -> PasswordField:
    return PasswordField(
        label,
        validators=[
            InputRequired(message=f"{label}: required; type the new password again."),
            EqualTo("new_password", message=f"{label}: not the same as the new password; type it again."),
        ],
    )


class LoginForm(FlaskForm):
    email = email_field("Email")
    password = PasswordField("Password", validators=[InputRequired(message="Password: required.")])


class ForgotPasswordForm(FlaskForm):
    email = email_field("Email", description="The address of your account.")


class ResetPasswordForm(FlaskForm):
    new_password = _new_password()
    repeat_password = _repeat()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired(message="Current password: required.")])
    new_password = _new_password()
    repeat_password = _repeat()
