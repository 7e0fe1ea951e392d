"""A subject's page: the visit timeline."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ecrf.access import Action, require, subject_or_404
from ecrf.clock import site_today
from ecrf.errors import InvalidInput
from ecrf.pages import subject_offers
from ecrf.protocols import protocol_for
from ecrf.subjects.models import SubjectStatus
from ecrf.subjects.services import LEAVING, end_participation, find_subjects, next_visit
from ecrf.web import FAILED, submit
from forms.subjects import EndParticipationForm

bp = Blueprint("subjects", __name__, url_prefix="/subjects")


@bp.route("/search")
def search():
    """Find a subject by study subject ID (the navigation's search): straight to it when the ID is exact, else a list."""
    text = request.args.get("q", "")
    try:
        found = find_subjects(current_user, text)
    except InvalidInput as error:
        return render_template("subjects/search.html", text=text, found=None, problem=error.problems[0][1]), 400
    if found.exact is not None:
        return redirect(url_for("subjects.detail", subject_code=found.exact.subject_code))
    return render_template("subjects/search.html", text=text, found=found, problem=None)


@bp.route("/<subject_code>")
def detail(subject_code: str):
    """Every visit of the subject with its window and status, as a timeline."""
    subject = subject_or_404(current_user, subject_code)
    today = site_today(subject.site)
    visits = [(visit, visit.status(today)) for visit in subject.visits]
    upcoming, _ = next_visit(subject, today)
    return render_template(
        "subjects/detail.html",
        subject=subject,
        visits=visits,
        today=today,
        next_visit=upcoming,
        protocol=protocol_for(subject.study.code),
        offers=subject_offers(current_user, subject),
    )


@bp.route("/<subject_code>/status", methods=["GET", "POST"])
def status(subject_code: str):
    """Record that a subject withdrew, was lost to follow-up or died."""
    subject = subject_or_404(current_user, subject_code)
    require(current_user, Action.END_PARTICIPATION, subject.study_id, subject.site_id)
    form = EndParticipationForm()
    status = SubjectStatus(form.status.data) if form.status.data in {s.value for s in LEAVING} else None
    if (
        form.validate_on_submit()
        and submit(form, lambda: end_participation(subject, status, form.status_date.data, form.reason.data or "", by=current_user)) is not FAILED
    ):
        assert subject.status_date is not None  # end_participation set it
        flash(f"{subject.subject_code}: {subject.status.label} on {subject.status_date.isoformat()}; later visits no longer apply.", "info")
        return redirect(url_for("subjects.detail", subject_code=subject.subject_code))
    return render_template("subjects/status.html", subject=subject, form=form, today=site_today(subject.site))
