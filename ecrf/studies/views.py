"""Study -> site -> subject list, and enrolment."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user
from sqlalchemy import func, select

from ecrf.access import Action, can, grants, study_site_or_404
from ecrf.clock import site_today
from ecrf.extensions import db
from ecrf.guards import BIGINT_MAX, int_arg
from ecrf.pages import screening_sites
from ecrf.protocols import protocol_for
from ecrf.subjects.models import Subject
from ecrf.subjects.services import subject_page

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
    counts = dict(
        db.session.execute(
            select(Subject.site_id, func.count(Subject.id))
            .where(Subject.study_id == study.id, Subject.site_id.in_([site.id for site in sites]))
            .group_by(Subject.site_id)
        )
        .tuples()
        .all()
    )
    links = {
        "screening": any(can(current_user, Action.VIEW_SCREENING, study.id, site.id) for site in sites),
        "exports": any(can(current_user, Action.EXPORT, study.id, site.id) for site in sites),
        "randomization": study.allocation == "randomized" and any(can(current_user, Action.MANAGE_RANDOMIZATION, study.id, site.id) for site in sites),
    }
    return render_template(
        "studies/study.html",
        study=study,
        protocol=protocol_for(study.code),
        sites=sites,
        counts=counts,
        links=links,
        screening_sites=screening_sites(current_user, study, sites),
    )


@bp.route("/<study_code>/sites/<site_code>")
def site_subjects(study_code: str, site_code: str):
    """A site's subjects in a study with each one's next visit and its status."""
    study, site = study_site_or_404(current_user, study_code, site_code)
    per_page = current_app.config["ECRF_PAGE_SIZE"]
    page = int_arg("page", 1, low=1, high=BIGINT_MAX // per_page)
    rows, pagination = subject_page(study, site, page, per_page)
    return render_template(
        "studies/site.html",
        study=study,
        site=site,
        rows=rows,
        pagination=pagination,
        today=site_today(site),
        screening_sites=screening_sites(current_user, study, [site]),
    )
