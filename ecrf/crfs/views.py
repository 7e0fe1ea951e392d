"""Instrument form pages: enter, save as draft or complete, and see computed results."""

from __future__ import annotations

from typing import cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import Select, select

from ecrf.access import Action, instrument_codes, require, subject_or_404
from ecrf.crfs.models import CrfEntry
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import (
    conflict_after_race,
    entry_data,
    form_context,
    initial_values,
    lock_entries,
    mark_none_reported,
    save_entry,
    signature_holds,
    unlock_entry,
    verify_entry,
)
from ecrf.extensions import db
from ecrf.pages import entry_offers
from ecrf.queries.services import entry_queries
from ecrf.visits.services import visit_by_code
from ecrf.web import FAILED, Repeated, act, submit
from forms.registry import form_for

bp = Blueprint("crfs", __name__, url_prefix="/subjects")


def _load(subject_code: str, visit_code: str, code: str):
    """Subject, visit and instrument, if the user may see them and the visit needs that instrument."""
    subject = subject_or_404(current_user, subject_code)
    visit = visit_by_code(subject, visit_code)
    if visit is None or code not in instrument_codes(current_user, subject, visit):
        abort(404)
    return subject, visit, instrument(code)


def _entry_query(visit, code: str, sequence: int) -> Select[tuple[CrfEntry]]:
    return select(CrfEntry).where(
        CrfEntry.visit_id == visit.id,
        CrfEntry.instrument == code,
        CrfEntry.sequence == sequence,
        CrfEntry.none_reported.is_(False),
    )


def _entry(visit, code: str, sequence: int) -> CrfEntry | None:
    return db.session.scalar(_entry_query(visit, code, sequence))


@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>", methods=["GET", "POST"], endpoint="single")
@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>/new", methods=["GET", "POST"], endpoint="new")
@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>/<int:sequence>", methods=["GET", "POST"], endpoint="item")
def entry(subject_code: str, visit_code: str, code: str, sequence: int | None = None):
    """Show an instrument form; save it as a draft or as complete."""
    subject, visit, item = _load(subject_code, visit_code, code)
    if item.repeating == (request.endpoint == "crfs.single"):
        abort(404)  # single forms have one URL; repeating ones have /new and /<sequence>
    existing = None if request.endpoint == "crfs.new" else _entry(visit, code, sequence or 1)
    if request.endpoint == "crfs.item" and existing is None:
        abort(404)
    context = form_context(subject, visit)
    data = entry_data(item, existing)
    form = form_for(code)(data=initial_values(item, data, context), context=context)
    if existing is not None and request.method == "GET":
        form.load_missing(existing.missing)
        form.version.data = existing.version
        form.confirm.data = existing.confirmed_warnings
    if request.method == "POST":
        require(current_user, Action.ENTER_DATA, subject.study_id, subject.site_id)
        complete = request.form.get("action") == "complete"
        if form.validate_entry(complete):
            entered = form.entry_input(complete, by=current_user)
            adding = request.endpoint == "crfs.new"
            saved = submit(
                form,
                lambda: save_entry(visit, item, entered, entry=_entry(visit, code, sequence or 1) if not adding else None),
                # A new list entry counts once per rendered form, and takes the next free number if another took its own;
                # a form saved by someone else at the same moment is refused as any other conflict.
                once=(lambda saved: entry_url(subject, visit, item, saved)) if adding else None,
                retry_races=adding,
                on_race=lambda: conflict_after_race(visit, item, None if adding else sequence or 1, entered),
            )
            if isinstance(saved, Repeated):
                return saved.response(url_for("visits.detail", subject_code=subject_code, visit_code=visit_code))
            if saved is not FAILED:
                saved = cast(CrfEntry, saved)  # neither FAILED nor Repeated: save_entry's entry
                flash(f"{item.label} saved as {saved.status.value}.", "success")
                return redirect(entry_url(subject, visit, item, saved))
    return render_template(
        "crfs/entry.html",
        subject=subject,
        visit=visit,
        item=item,
        entry=existing,
        data=data,
        form=form,
        offers=entry_offers(current_user, subject, existing),
        signatures=[(s, signature_holds(s, item, existing)) for s in existing.signatures] if existing else [],
        queries=entry_queries(existing) if existing else [],
    )


@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>/none", methods=["POST"])
def none_reported(subject_code: str, visit_code: str, code: str):
    """Record that a repeating instrument has nothing to report at this visit."""
    subject, visit, item = _load(subject_code, visit_code, code)
    require(current_user, Action.ENTER_DATA, subject.study_id, subject.site_id)
    # A second click finds the mark made by the first; one racing a first entry finds that entry and says so.
    if act(lambda: mark_none_reported(visit, item, current_user), retry_races=True) is not FAILED:
        flash(f"{item.label}: none to report at this visit.", "success")
    return redirect(url_for("visits.detail", subject_code=subject.subject_code, visit_code=visit_code))


def entry_url(subject, visit, item, saved: CrfEntry) -> str:
    args = {"subject_code": subject.subject_code, "visit_code": visit.definition.code, "code": item.code}
    if item.repeating:
        return url_for("crfs.item", sequence=saved.sequence, **args)
    return url_for("crfs.single", **args)


def load_entry(subject_code: str, visit_code: str, code: str, sequence: int):
    """Subject, visit, instrument and an existing entry, if the user may see them; 404 otherwise."""
    subject, visit, item = _load(subject_code, visit_code, code)
    return subject, visit, item, db.first_or_404(_entry_query(visit, code, sequence))


@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>/<int:sequence>/verify", methods=["POST"])
def verify(subject_code: str, visit_code: str, code: str, sequence: int):
    """A monitor marks the form source-verified."""
    subject, visit, item, existing = load_entry(subject_code, visit_code, code, sequence)
    require(current_user, Action.VERIFY, subject.study_id, subject.site_id)
    _act(lambda: verify_entry(existing, current_user), "Source-verified.")
    return redirect(entry_url(subject, visit, item, existing))


@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>/<int:sequence>/lock", methods=["POST"])
def lock(subject_code: str, visit_code: str, code: str, sequence: int):
    """The data manager locks the form."""
    subject, visit, item, existing = load_entry(subject_code, visit_code, code, sequence)
    require(current_user, Action.LOCK, subject.study_id, subject.site_id)
    _act(lambda: lock_entries([existing], current_user), "Locked.")
    return redirect(entry_url(subject, visit, item, existing))


@bp.route("/<subject_code>/visits/<visit_code>/forms/<code>/<int:sequence>/unlock", methods=["POST"])
def unlock(subject_code: str, visit_code: str, code: str, sequence: int):
    """The data manager unlocks the form, with a reason."""
    subject, visit, item, existing = load_entry(subject_code, visit_code, code, sequence)
    require(current_user, Action.LOCK, subject.study_id, subject.site_id)
    _act(lambda: unlock_entry(existing, current_user, request.form.get("reason", "")), "Unlocked.")
    return redirect(entry_url(subject, visit, item, existing))


def _act(move, done: str) -> None:
    """Run a lifecycle move and say so if it went through."""
    if act(move) is not FAILED:
        flash(done, "success")
