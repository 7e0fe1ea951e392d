"""The form that makes a personal access token for the API (on the user's own account page)."""

from __future__ import annotations

from flask_wtf import FlaskForm

from ecrf.api.tokens import MAX_DAYS, NAME_LENGTH
from forms.fields import integer, text, tick


class ApiTokenForm(FlaskForm):
    name = text(
        "Name",
        NAME_LENGTH,
        description="What will use it, e.g. 'core lab upload'. The audit trail names every change made with the token by this name.",
    )
    days = integer("Valid for (days)", 1, MAX_DAYS, description=f"From 1 to {MAX_DAYS} days; after that the token stops working.")
    read_only = tick("Read-only", description="The token may read, never write.")
