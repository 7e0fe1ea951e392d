"""The exports page of a study: start an export, follow its progress, download the file (see `ecrf.exports.jobs`)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, send_file, url_for
from flask_login import current_user

from ecrf.access import study_site_or_404
from ecrf.db import commit_with_retry
from ecrf.exports.jobs import (
    choice_of,
    downloadable,
    exportable_sites,
    extension,
    job_offers,
    listed_jobs,
    may_export_audit,
    own_job,
    record_download,
    start_export,
    start_in_background,
    status_of,
)
from ecrf.exports.models import FORMAT_LABELS, ExportJob
from ecrf.extensions import db
from ecrf.studies.models import Study
from ecrf.web import FAILED, Repeated, submit
from forms.exports import ExportForm

bp = Blueprint("exports", __name__, url_prefix="/studies/<study_code>/exports")


def _study_for_export(study_code: str) -> Study:
    """The study, if the user may export some of its sites; 404 otherwise (the page does not exist for them)."""
    study, _ = study_site_or_404(current_user, study_code)
    if not exportable_sites(current_user, study):
        abort(404)
    return study


def _formats(study: Study) -> list[str]:
    return [value for value in FORMAT_LABELS if value != "audit" or may_export_audit(current_user, study)]


@bp.route("/", methods=["GET", "POST"])
def index(study_code: str):
    """Choose a format and sites and start an export; the study's exports with their state, and downloads of one's own."""
    study = _study_for_export(study_code)
    sites = exportable_sites(current_user, study)
    form = ExportForm().fill_choices(_formats(study), [site.code for site in sites])
    if form.validate_on_submit():
        job = submit(
            form,
            lambda: start_export(current_user, study, form.format.data, form.sites.data or [], form.date_from.data, form.date_to.data),
            once=lambda job: url_for("exports.index", study_code=study.code, _anchor=f"export-{job.id}"),
        )
        if isinstance(job, Repeated):  # a double click on Start: one job
            return job.response(url_for("exports.index", study_code=study.code))
        if job is not FAILED:
            assert isinstance(job, ExportJob)
            start_in_background(current_app._get_current_object(), job.id)  # type: ignore[attr-defined]
            return redirect(url_for("exports.index", study_code=study.code, _anchor=f"export-{job.id}"))
    jobs = [(job, job_offers(job, current_user)) for job in listed_jobs(current_user, study)]
    return render_template("exports/index.html", study=study, form=form, jobs=jobs)


@bp.route("/<int:job_id>/status")
def status(study_code: str, job_id: int):
    """One's own export's state, as JSON, for the page's progress bar."""
    study = _study_for_export(study_code)
    job = own_job(current_user, study, job_id) or abort(404)
    return jsonify(status_of(job))


@bp.route("/<int:job_id>/download")
def download(study_code: str, job_id: int):
    """The file of one's own finished export (only its maker downloads it); the download is in the audit trail."""
    study = _study_for_export(study_code)
    job = own_job(current_user, study, job_id) or abort(404)
    path = downloadable(job, current_user) or abort(404)
    commit_with_retry(db.session, lambda: record_download(job, current_user))
    name = f"{study.code}-{choice_of(job.format, job.snapshot)}-{job.id}.{extension(job.format)}"
    return send_file(path, as_attachment=True, download_name=name, max_age=0)
