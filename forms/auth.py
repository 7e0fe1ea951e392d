"""Log-in form."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import InputRequired, Length

from forms.fields import required


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[required("Email", "enter the address of your account"), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(message="Password: required.")])
