"""History views: everything that happened to a subject, or to one field of a form."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import or_, select

from ecrf.access import Action, grants, require, study_site_or_404, subject_or_404
from ecrf.audit.models import AuditEvent
from ecrf.crfs.views import load_entry
from ecrf.deviations.services import deviation_log
from ecrf.extensions import db

bp = Blueprint("audit", __name__)


@bp.route("/subjects/<subject_code>/history")
def subject_history(subject_code: str):
    """Every audited change of a subject's data, newest first."""
    subject = subject_or_404(current_user, subject_code)
    require(current_user, Action.VIEW_AUDIT, subject.study_id, subject.site_id)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.subject_id == subject.id).order_by(AuditEvent.id.desc())).all()
    return render_template("audit/history.html", title=f"History of {subject.subject_code}", subject=subject, events=events)


@bp.route("/subjects/<subject_code>/visits/<visit_code>/forms/<code>/<int:sequence>/history")
def field_history(subject_code: str, visit_code: str, code: str, sequence: int):
    """The history of one field of a form (?field=name), or of the whole form."""
    subject, _visit, item, entry = load_entry(subject_code, visit_code, code, sequence)
    require(current_user, Action.VIEW_AUDIT, subject.study_id, subject.site_id)
    field = request.args.get("field")
    if field and field not in item.items.entered_names():
        abort(404)
    about_data = (AuditEvent.object_type == item.model.__tablename__) & (AuditEvent.object_id == str(entry.id))
    about_entry = (AuditEvent.object_type == "crf_entries") & (AuditEvent.object_id == str(entry.id))
    stmt = select(AuditEvent).where(about_data & (AuditEvent.field == field) if field else or_(about_data, about_entry))
    events = db.session.scalars(stmt.order_by(AuditEvent.id.desc())).all()
    label = item.items.label(field) if field else item.label
    return render_template("audit/history.html", title=f"History of {label}", subject=subject, events=events, entry=entry, item=item)


@bp.route("/studies/<study_code>/deviations")
def deviations(study_code: str):
    """The study's protocol deviations at the user's sites."""
    study, _ = study_site_or_404(current_user, study_code)
    sites = [site for site in grants(current_user).sites_of(study.id) if grants(current_user).allows(Action.VIEW_AUDIT, study.id, site.id)]
    if not sites:
        abort(404)
    return render_template("audit/deviations.html", study=study, deviations=deviation_log(study.id, [s.id for s in sites]))
