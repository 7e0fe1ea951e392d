"""A visit's page: its window, its date and the forms it needs."""
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from ecrf.access import Action, can, instrument_codes, may_record_visit, subject_or_404
from ecrf.clock import site_today
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.crfs.services import visit_forms
from ecrf.visits.services import record_visit_date, visit_by_code
from ecrf.visits.windows import WindowStatus
from forms.fields import show_errors
from forms.visits import VisitDateForm

bp = Blueprint("visits", __name__, url_prefix="/subjects")


@bp.route("/<subject_code>/visits/<visit_code>", methods=["GET", "POST"])
def detail(subject_code: str, visit_code: str):
    """Show a visit; record the date it took place."""
    subject = subject_or_404(current_user, subject_code)
    visit = visit_by_code(subject, visit_code)
    if visit is None:
        abort(404)
    form = VisitDateForm(obj=visit)
    may_record = may_record_visit(current_user, subject, visit)
    if form.is_submitted() and not may_record:
        abort(403)
    if form.validate_on_submit():
        try:
            status = record_visit_date(visit, form.visit_date.data, by=current_user)
        except InvalidInput as error:
            show_errors(form, error)
        else:
            db.session.commit()
            if status is WindowStatus.COMPLETED_OUT_OF_WINDOW:
                flash(
                    f"Visit date {visit.visit_date.isoformat()} is outside the window "
                    f"{visit.window_start.isoformat()} to {visit.window_end.isoformat()}: the visit is recorded as completed out of window.",
                    "warning",
                )
            else:
                flash(f"Visit date {visit.visit_date.isoformat()} recorded: completed in window.", "success")
            return redirect(url_for("visits.detail", subject_code=subject.subject_code, visit_code=visit_code))
    forms = visit_forms(visit, instrument_codes(current_user, subject, visit))
    today = site_today(subject.site)
    return render_template(
        "visits/detail.html", subject=subject, visit=visit, status=visit.status(today), today=today,
        form=form, forms=forms,
        may_record=may_record,
        may_enter=can(current_user, Action.ENTER_DATA, subject.study_id, subject.site_id),
    )
