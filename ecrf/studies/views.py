"""Study -> site -> subject list, and enrolment."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from ecrf.access import Action, grants, require, study_site_or_404
from ecrf.clock import site_today
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod
from ecrf.subjects.models import Subject
from ecrf.subjects.services import enrol_subject, subject_page
from forms.fields import show_errors
from forms.subjects import enrol_form_class

bp = Blueprint("studies", __name__, url_prefix="/studies")


@bp.route("/")
def index():
    """The studies the user works on, with their sites."""
    known = grants(current_user)
    studies = sorted(known.studies.values(), key=lambda study: study.code)
    return render_template("studies/index.html", studies=studies, sites_of=known.sites_of)


@bp.route("/<study_code>")
def study(study_code: str):
    """One study: its protocol summary and the user's sites with subject counts."""
    study, _ = study_site_or_404(current_user, study_code)
    sites = grants(current_user).sites_of(study.id)
    counts = dict(db.session.execute(
        select(Subject.site_id, func.count(Subject.id))
        .where(Subject.study_id == study.id, Subject.site_id.in_([site.id for site in sites]))
        .group_by(Subject.site_id)
    ).all())
    return render_template("studies/study.html", study=study, protocol=protocol_for(study.code), sites=sites, counts=counts)


@bp.route("/<study_code>/sites/<site_code>")
def site_subjects(study_code: str, site_code: str):
    """A site's subjects in a study with each one's next visit and its status."""
    study, site = study_site_or_404(current_user, study_code, site_code)
    per_page = current_app.config["ECRF_PAGE_SIZE"]
    page = max(request.args.get("page", 1, type=int), 1)
    rows, total = subject_page(study, site, page, per_page)
    pages = max((total + per_page - 1) // per_page, 1)
    return render_template(
        "studies/site.html", study=study, site=site, rows=rows, total=total,
        page=page, pages=pages, today=site_today(site),
    )


@bp.route("/<study_code>/sites/<site_code>/enrol", methods=["GET", "POST"])
def enrol(study_code: str, site_code: str):
    """Enrol a subject at a site: consent and index dates, and the cohort where it is chosen."""
    study, site = study_site_or_404(current_user, study_code, site_code)
    require(current_user, Action.ENROL, study.id, site.id)
    protocol = protocol_for(study.code)
    chosen = protocol.allocation.method is AllocationMethod.CHOSEN
    form_class = enrol_form_class(protocol.index, [(arm.code, arm.label) for arm in protocol.arms] if chosen else [])
    form = form_class()
    if form.validate_on_submit():
        try:
            subject = enrol_subject(
                study, site,
                index_date=form.index_date.data,
                consent_date=form.consent_date.data,
                arm_code=form.arm.data if chosen else None,
                index_time=form.index_time.data if protocol.index.with_time else None,
                by=current_user,
            )
        except InvalidInput as error:
            show_errors(form, error)
        else:
            db.session.commit()
            flash(f"{subject.subject_code} enrolled; the visit schedule is below.", "success")
            return redirect(url_for("subjects.detail", subject_code=subject.subject_code))
    return render_template("studies/enrol.html", study=study, site=site, protocol=protocol, form=form, today=site_today(site))
