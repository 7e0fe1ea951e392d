"""Admin forms: a new account, and a membership (study, site, role)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField
from wtforms.validators import Length, Optional, ValidationError

from ecrf.admin.services import MIN_PASSWORD_LENGTH
from ecrf.auth.models import Role
from forms.fields import email_field, required, text


class NamedSelectField(SelectField):
    """A drop-down whose "not a choice" message names the field and what it takes."""

    def __init__(self, label: str, allowed: str, **kwargs):
        kwargs.setdefault("validators", [required(label, f"choose {allowed}")])
        super().__init__(label, **kwargs)
        self.allowed = allowed

    def pre_validate(self, form):
        if self.data in (None, ""):
            return
        if not any(str(choice.value) == str(self.data) for choice in self.choices):
            raise ValidationError(f"{self.label.text}: choose {self.allowed}.")


class CreateUserForm(FlaskForm):
    email = email_field("Email", description="The address the user logs in with.")
    full_name = text("Full name", 200)
    password = PasswordField(
        "Initial password",
        validators=[
            Optional(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=200,
                message=f"Initial password: from {MIN_PASSWORD_LENGTH} to 200 characters, or leave it empty to have one generated.",
            ),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters, not a common password nor the email address, or leave it "
        "empty to have one generated. It is shown once, after the account is created; the user chooses their own "
        "at the first log-in.",
    )


class MembershipForm(FlaskForm):
    study = NamedSelectField("Study", "one of the studies listed")
    site = NamedSelectField("Site", "a site that runs the study")
    role = NamedSelectField(
        "Role",
        "one of " + ", ".join(role.label for role in Role),
        choices=[SelectChoice("", "choose…")] + [SelectChoice(role.value, role.label) for role in Role],
    )

    def fill_choices(self, studies, sites) -> MembershipForm:
        """Offer every study, and every site with the studies it runs."""
        self.study.choices = [SelectChoice("", "choose…")] + [SelectChoice(s.code, f"{s.short_title} ({s.code})") for s in studies]
        self.site.choices = [SelectChoice("", "choose…")] + [
            SelectChoice(site.code, f"{site.code} — {site.name} (runs {', '.join(sorted(ss.study.short_title for ss in site.study_sites)) or 'no study'})")
            for site in sites
        ]
        return self
