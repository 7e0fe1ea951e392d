"""Screening log, screening a patient, enrolment from screening, study flow, randomization list use."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ecrf.access import Action, can, grants, require, screening_or_404, study_site_or_404
from ecrf.clock import site_today
from ecrf.extensions import db
from ecrf.pages import screening_offers
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod
from ecrf.randomization.services import ListExhausted, list_use
from ecrf.screening.eligibility import computed_values, judged_by_investigator
from ecrf.screening.models import ScreeningOutcome, ScreeningRecord
from ecrf.screening.services import (
    criterion_texts,
    decline_consent,
    enrol_from_screening,
    report_exhausted_list,
    reverse_decline,
    save_screening,
    screening_log,
    study_flow,
)
from ecrf.subjects.models import SubjectStatus
from ecrf.web import FAILED, Repeated, act, submit
from forms.screening import answer_name, form_data, posted_values, screening_form_class, stratum_name
from forms.subjects import enrol_form_class

bp = Blueprint("screening", __name__)


def _sites_allowing(study, action: Action):
    return [site for site in grants(current_user).sites_of(study.id) if can(current_user, action, study.id, site.id)]


@bp.route("/studies/<study_code>/screening")
def log(study_code: str):
    """The screening log of the user's sites, filtered by site, outcome and dates, with counts per site."""
    study, _ = study_site_or_404(current_user, study_code)
    sites = _sites_allowing(study, Action.VIEW_SCREENING)
    if not sites:
        abort(404)
    args = request.args
    site = next((s for s in sites if s.code == args.get("site")), None)
    outcome = next((o for o in ScreeningOutcome if o.value == args.get("outcome")), None)
    start, end = _date_arg("from"), _date_arg("to")
    records = screening_log(study, [s.id for s in sites], site_id=site.id if site else None, outcome=outcome, start=start, end=end)
    counts = {s.id: {o: 0 for o in ScreeningOutcome} for s in sites}
    for record in records:
        counts[record.site_id][record.outcome] += 1
    return render_template(
        "screening/log.html",
        study=study,
        sites=sites,
        records=records,
        counts=counts,
        outcomes=list(ScreeningOutcome),
        selected={"site": site.code if site else "", "outcome": outcome.value if outcome else "", "from": args.get("from", ""), "to": args.get("to", "")},
        may_screen={s.id for s in _sites_allowing(study, Action.ENROL)},
    )


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _answers(form, protocol) -> dict[str, bool | None]:
    return {criterion.code: form[answer_name(criterion.code)].data for _, criterion in judged_by_investigator(protocol)}


def _strata(form, protocol) -> dict[str, str]:
    return {factor.code: form[stratum_name(factor.code)].data for factor in protocol.allocation.strata}


def _screening_page(study, site, record: ScreeningRecord | None):
    protocol = protocol_for(study.code)
    form_class = screening_form_class(protocol)
    form = form_class(data=form_data(record, protocol) if record else {"screening_date": site_today(site)})
    if form.validate_on_submit():
        saved = submit(
            form,
            lambda: save_screening(
                study,
                site,
                screening_date=form.screening_date.data,
                values=posted_values(form, protocol, site.timezone),
                answers=_answers(form, protocol),
                strata=_strata(form, protocol),
                by=current_user,
                record=record,
            ),
            once=(lambda saved: url_for("screening.record", number=saved.screening_number)) if record is None else None,
        )
        if isinstance(saved, Repeated):
            return saved.response(url_for("screening.log", study_code=study.code))
        if saved is not FAILED:
            flash(f"{saved.screening_number}: {saved.outcome.label}.", "success" if saved.outcome is ScreeningOutcome.ELIGIBLE else "info")
            return redirect(url_for("screening.record", number=saved.screening_number))
    return render_template(
        "screening/form.html",
        study=study,
        site=site,
        record=record,
        form=form,
        protocol=protocol,
        offers=screening_offers(record),
        failed=criterion_texts(study, record.failed_criteria) if record else [],
        computed=computed_values(record.values, screening_date=record.screening_date, at=record.updated_at) if record else [],
    )


@bp.route("/studies/<study_code>/sites/<site_code>/screening/new", methods=["GET", "POST"])
def new(study_code: str, site_code: str):
    """Screen a patient: a screening number, the protocol's values and checklist, the outcome."""
    study, site = study_site_or_404(current_user, study_code, site_code)
    require(current_user, Action.ENROL, study.id, site.id)
    return _screening_page(study, site, None)


@bp.route("/screening/<number>", methods=["GET", "POST"])
def record(number: str):
    """A screening record; site staff may correct it until the patient is enrolled."""
    record = screening_or_404(current_user, number)
    if request.method == "POST":
        require(current_user, Action.ENROL, record.study_id, record.site_id)
    return _screening_page(record.study, record.site, record)


@bp.route("/screening/<number>/decline", methods=["POST"])
def decline(number: str):
    """The patient declined consent."""
    record = screening_or_404(current_user, number)
    require(current_user, Action.ENROL, record.study_id, record.site_id)
    if act(lambda: decline_consent(record, current_user)) is not FAILED:
        flash(f"{record.screening_number}: declined consent.", "info")
    return redirect(url_for("screening.record", number=number))


@bp.route("/screening/<number>/reverse-decline", methods=["POST"])
def reverse_decline_view(number: str):
    """The patient who declined consent changed their mind: the outcome is judged again (a reason is required)."""
    record = screening_or_404(current_user, number)
    require(current_user, Action.ENROL, record.study_id, record.site_id)
    if act(lambda: reverse_decline(record, request.form.get("reason", ""), current_user)) is not FAILED:
        flash(f"{record.screening_number}: decline reversed; now {record.outcome.label}.", "info")
    return redirect(url_for("screening.record", number=number))


@bp.route("/screening/<number>/enrol", methods=["GET", "POST"])
def enrol(number: str):
    """Enrol an eligible patient: consent date, day 0 or randomization now, the cohort where it is chosen."""
    record = screening_or_404(current_user, number)
    require(current_user, Action.ENROL, record.study_id, record.site_id)
    study, site = record.study, record.site
    protocol = protocol_for(study.code)
    chosen = protocol.allocation.method is AllocationMethod.CHOSEN
    form = enrol_form_class(protocol.index, [(arm.code, arm.label) for arm in protocol.arms] if chosen else [])()
    if form.validate_on_submit():

        def work():
            again = screening_or_404(current_user, number)
            return enrol_from_screening(
                again,
                consent_date=form.consent_date.data,
                index_date=form.index_date.data if "index_date" in form else None,
                index_time=form.index_time.data if "index_time" in form else None,
                arm_code=form.arm.data if chosen else None,
                by=current_user,
            )

        try:
            subject = submit(form, work)
        except ListExhausted as error:
            db.session.rollback()
            message = report_exhausted_list(record, error)
            db.session.commit()
            form.form_errors.append(message)
            subject = FAILED
        if subject is not FAILED:
            flash(f"{subject.subject_code} enrolled" + (" and randomized" if subject.randomized_at else "") + "; the visit schedule is below.", "success")
            return redirect(url_for("subjects.detail", subject_code=subject.subject_code))
    return render_template("screening/enrol.html", record=record, study=study, site=site, protocol=protocol, form=form, today=site_today(site))


@bp.route("/studies/<study_code>/flow")
def flow(study_code: str):
    """Study flow per site: screened, screen failures by criterion, enrolled per arm, withdrawn, lost, died, completed."""
    study, _ = study_site_or_404(current_user, study_code)
    sites = _sites_allowing(study, Action.VIEW_SCREENING)
    if not sites:
        abort(404)
    flows, total = study_flow(study, sites)
    protocol = protocol_for(study.code)
    texts = {c.code: c.text.strip() for c in protocol.eligibility.inclusion + protocol.eligibility.exclusion}
    sees_arms = all(can(current_user, Action.SEE_ARM, study.id, site.id) for site in sites)
    return render_template(
        "screening/flow.html",
        study=study,
        flows=flows,
        total=total,
        texts=texts,
        sees_arms=sees_arms,
        arms={arm.id: arm.label for arm in study.arms},
        statuses=list(SubjectStatus),
    )


@bp.route("/studies/<study_code>/randomization")
def randomization(study_code: str):
    """How much of each stratum's list is used (data manager); never which arm comes next."""
    study, _ = study_site_or_404(current_user, study_code)
    if not _sites_allowing(study, Action.MANAGE_RANDOMIZATION):
        abort(404)
    return render_template("screening/randomization.html", study=study, strata=list_use(study))
