"""A visit's page: its window, its date and the forms it needs."""

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_login import current_user

from ecrf.access import Action, instrument_codes, may_record_visit, require, subject_or_404
from ecrf.auth.services import confirm_identity
from ecrf.auth.views import locked_out
from ecrf.clock import site_today
from ecrf.crfs.services import SIGNATURE_MEANING, lock_entries, sign_entries, visit_forms
from ecrf.db import commit_with_retry
from ecrf.deviations.services import deviations_of
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.pages import visit_offers
from ecrf.visits.services import mark_missed, record_visit_date, visit_by_code
from ecrf.visits.windows import WindowStatus
from ecrf.web import FAILED, Repeated, act, submit
from forms.visits import MissedVisitForm, SignForm, VisitDateForm

bp = Blueprint("visits", __name__, url_prefix="/subjects")


def _load(subject_code: str, visit_code: str):
    subject = subject_or_404(current_user, subject_code)
    visit = visit_by_code(subject, visit_code)
    if visit is None:
        abort(404)
    return subject, visit


def _page(subject, visit, date_form=None, missed_form=None, sign_form=None, first_signature: bool | None = None):
    """The visit page, with the forms as posted (errors included) or fresh."""
    forms = visit_forms(visit, instrument_codes(current_user, subject, visit))
    today = site_today(subject.site)
    return render_template(
        "visits/detail.html",
        subject=subject,
        visit=visit,
        status=visit.status(today),
        today=today,
        forms=forms,
        form=date_form or VisitDateForm(obj=visit),
        missed_form=missed_form or MissedVisitForm(),
        sign_form=sign_form or SignForm(),
        offers=visit_offers(current_user, subject, visit, forms, today),
        first_signature=not session.get(SIGNER_IDENTIFIED) if first_signature is None else first_signature,
        deviations=deviations_of(visit),
    )


def _back(subject, visit_code: str):
    return redirect(url_for("visits.detail", subject_code=subject.subject_code, visit_code=visit_code))


@bp.route("/<subject_code>/visits/<visit_code>", methods=["GET", "POST"])
def detail(subject_code: str, visit_code: str):
    """Show a visit; record the date it took place (with a deviation reason outside its window)."""
    subject, visit = _load(subject_code, visit_code)
    form = VisitDateForm(obj=visit)
    if form.is_submitted() and not may_record_visit(current_user, subject, visit):
        abort(403)
    if form.validate_on_submit():
        status = submit(
            form,
            lambda: record_visit_date(
                visit, form.visit_date.data, by=current_user, deviation_reason=form.deviation_reason.data, reason_for_change=form.reason_for_change.data
            ),
        )
        if status is not FAILED:
            if status is WindowStatus.COMPLETED_OUT_OF_WINDOW:
                flash(
                    f"Visit date {visit.visit_date.isoformat()} is outside the window "
                    f"{visit.window_start.isoformat()} to {visit.window_end.isoformat()}: recorded as completed out of window, "
                    "with a protocol deviation.",
                    "warning",
                )
            else:
                flash(f"Visit date {visit.visit_date.isoformat()} recorded: completed in window.", "success")
            return _back(subject, visit_code)
    return _page(subject, visit, date_form=form)


@bp.route("/<subject_code>/visits/<visit_code>/missed", methods=["POST"])
def missed(subject_code: str, visit_code: str):
    """Mark the visit missed, with a reason (a protocol deviation)."""
    subject, visit = _load(subject_code, visit_code)
    if not may_record_visit(current_user, subject, visit):
        abort(403)
    form = MissedVisitForm()
    if form.validate_on_submit() and submit(form, lambda: mark_missed(visit, form.missed_reason.data, by=current_user)) is not FAILED:
        flash(f"{visit.definition.label} marked missed.", "info")
        return _back(subject, visit_code)
    return _page(subject, visit, missed_form=form)


#: Flask session key: the signer gave both signature components (email and password) in this session.
SIGNER_IDENTIFIED = "signer_identified"


@bp.route("/<subject_code>/visits/<visit_code>/sign", methods=["POST"])
def sign(subject_code: str, visit_code: str):
    """The investigator signs the visit's complete forms: email and password at the first signature of a session,
    the password alone after it (21 CFR 11.200(a)(1)). Wrong answers count toward the account's lockout."""
    subject, visit = _load(subject_code, visit_code)
    require(current_user, Action.SIGN, subject.study_id, subject.site_id)
    form = SignForm()
    first = not session.get(SIGNER_IDENTIFIED)
    if first and form.is_submitted() and not (form.email.data or "").strip():
        form.email.errors = ["Your email: required at the first signature of a session; enter your account's address."]
    elif form.validate_on_submit():
        user = current_user._get_current_object()
        check = commit_with_retry(db.session, lambda: confirm_identity(user, form.password.data, purpose="signature", email=form.email.data if first else None))
        if check.locked_until is not None:
            return locked_out(check.locked_until)
        if not check.ok:
            form.password.errors = [
                ("Email or password: not correct" if first else "Password: not correct")
                + "; signing needs your own again. Failed attempts count toward locking the account."
            ]
            return _page(subject, visit, sign_form=form, first_signature=first)
        forms = visit_forms(visit, instrument_codes(current_user, subject, visit))
        signatures = submit(
            form,
            lambda: sign_entries([(e, vf.instrument) for vf in forms for e in vf.signable], user, check),
            once=lambda _: url_for("visits.detail", subject_code=subject_code, visit_code=visit_code),
            on_race=lambda: InvalidInput.at(
                None,
                (
                    "These forms were signed or changed a moment ago (a second click, another window or another user); nothing was "
                    "signed. Reload the page to see them as they are now."
                ),
            ),
        )
        if isinstance(signatures, Repeated):
            return signatures.response(url_for("visits.detail", subject_code=subject_code, visit_code=visit_code))
        if signatures is not FAILED:
            session[SIGNER_IDENTIFIED] = True
            flash(f"{len(signatures)} form(s) signed by {current_user.full_name} ({SIGNATURE_MEANING}).", "success")
            return _back(subject, visit_code)
    return _page(subject, visit, sign_form=form, first_signature=first)


@bp.route("/<subject_code>/visits/<visit_code>/lock", methods=["POST"])
def lock(subject_code: str, visit_code: str):
    """The data manager locks the visit's verified and signed forms."""
    subject, visit = _load(subject_code, visit_code)
    require(current_user, Action.LOCK, subject.study_id, subject.site_id)
    forms = visit_forms(visit, instrument_codes(current_user, subject, visit))
    entries = [e for vf in forms for e in vf.lockable]
    if act(lambda: lock_entries(entries, current_user)) is not FAILED:
        flash(f"{len(entries)} form(s) locked.", "info")
    return _back(subject, visit_code)
