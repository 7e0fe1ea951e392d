"""A flag's page: the investigator confirms a safety signal (an adverse event form opens) or dismisses it."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ecrf.access import Action, flag_or_404, require
from ecrf.crfs.models import CrfEntry
from ecrf.crfs.registry import instrument
from ecrf.crfs.views import entry_url
from ecrf.extensions import db
from ecrf.pages import flag_offers
from ecrf.safety.services import confirm_flag, dismiss_flag
from ecrf.web import FAILED, Repeated, act

bp = Blueprint("safety", __name__)


@bp.route("/flags/<int:flag_id>", methods=["GET", "POST"])
def flag(flag_id: int):
    """Show a flag; the investigator confirms or dismisses a safety signal."""
    flag = flag_or_404(current_user, flag_id)
    if request.method == "POST":
        require(current_user, Action.DECIDE_FLAG, flag.study_id, flag.site_id)
        if request.form.get("action") == "confirm":
            # Retried if another entry took the adverse event's number at that moment (the decision is taken once).
            entry = act(
                lambda: confirm_flag(flag, current_user),
                retry_races=True,
                once=lambda entry: entry_url(flag.subject, entry.visit, instrument("adverse_events"), entry),
            )
            if isinstance(entry, Repeated):
                return entry.response(url_for("safety.flag", flag_id=flag.id))
            if entry is not FAILED:
                flash("Confirmed: complete the adverse event form, prefilled from the flag.", "success")
                return redirect(entry_url(flag.subject, entry.visit, instrument("adverse_events"), entry))
        elif act(lambda: dismiss_flag(flag, current_user, request.form.get("reason", ""))) is not FAILED:
            flash("Dismissed.", "info")
        return redirect(url_for("safety.flag", flag_id=flag.id))
    ae_entry = db.session.get(CrfEntry, flag.ae_entry_id) if flag.ae_entry_id else None
    return render_template(
        "safety/flag.html",
        flag=flag,
        ae_link=entry_url(flag.subject, ae_entry.visit, instrument("adverse_events"), ae_entry) if ae_entry else None,
        offers=flag_offers(current_user, flag),
    )
