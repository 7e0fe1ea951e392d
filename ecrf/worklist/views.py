"""The worklist: the page a user lands on."""

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from ecrf.clock import now_utc
from ecrf.worklist.services import build_worklist

bp = Blueprint("worklist", __name__)


@bp.route("/")
def index():
    """Overdue visits, open windows and windows opening soon, across the user's studies and sites."""
    config = current_app.config
    worklist = build_worklist(current_user, config["ECRF_WORKLIST_HORIZON_DAYS"], config["ECRF_WORKLIST_LIMIT"])
    return render_template("worklist/index.html", worklist=worklist, now=now_utc())
