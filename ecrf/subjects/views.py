"""A subject's page: the visit timeline."""
from flask import Blueprint, render_template
from flask_login import current_user

from ecrf.access import subject_or_404
from ecrf.clock import site_today
from ecrf.protocols import protocol_for
from ecrf.subjects.services import next_visit

bp = Blueprint("subjects", __name__, url_prefix="/subjects")


@bp.route("/<subject_code>")
def detail(subject_code: str):
    """Every visit of the subject with its window and status, as a timeline."""
    subject = subject_or_404(current_user, subject_code)
    today = site_today(subject.site)
    visits = [(visit, visit.status(today)) for visit in subject.visits]
    upcoming, _ = next_visit(subject, today)
    return render_template(
        "subjects/detail.html", subject=subject, visits=visits, today=today,
        next_visit=upcoming, protocol=protocol_for(subject.study.code),
    )
