"""Raising a query on a form field, and a query's thread: answer, close, re-open."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ecrf.access import Action, query_or_404, require, require_query_step
from ecrf.crfs.registry import instrument
from ecrf.crfs.views import entry_url, load_entry
from ecrf.pages import query_offers
from ecrf.queries.services import answer_query, close_query, raise_query, reopen_query
from ecrf.web import FAILED, Repeated, act

bp = Blueprint("queries", __name__)


@bp.route("/subjects/<subject_code>/visits/<visit_code>/forms/<code>/<int:sequence>/queries", methods=["POST"])
def new(subject_code: str, visit_code: str, code: str, sequence: int):
    """A monitor or data manager raises a query on one field of the form."""
    subject, visit, item, entry = load_entry(subject_code, visit_code, code, sequence)
    require(current_user, Action.RAISE_QUERY, subject.study_id, subject.site_id)
    field = request.form.get("field", "")
    if field not in item.items.entered_names():
        abort(404)
    query = act(lambda: raise_query(entry, field, request.form.get("text", ""), current_user), once=lambda query: url_for("queries.thread", query_id=query.id))
    if isinstance(query, Repeated):
        return query.response(entry_url(subject, visit, item, entry))
    if query is FAILED:
        return redirect(request.referrer or url_for("worklist.index"))
    flash("Query raised; the site sees it on its worklist.", "success")
    return redirect(url_for("queries.thread", query_id=query.id))


STEPS = {
    "answer": (answer_query, "Answered."),
    "close": (close_query, "Closed."),
    "reopen": (reopen_query, "Re-opened: the site must answer again."),
}


@bp.route("/queries/<int:query_id>", methods=["GET", "POST"])
def thread(query_id: int):
    """A query's thread; the site answers, the raiser or a data manager closes or re-opens."""
    query = query_or_404(current_user, query_id)
    subject = query.entry.subject
    if request.method == "POST":
        step = request.form.get("action", "")
        if step not in STEPS:
            abort(400)
        service, done = STEPS[step]
        require_query_step(current_user, query, step)
        if act(lambda: service(query, request.form.get("text", ""), current_user)) is not FAILED:
            flash(done, "success")
            return redirect(url_for("queries.thread", query_id=query.id))
    entry = query.entry
    return render_template(
        "queries/thread.html",
        query=query,
        subject=subject,
        entry=entry,
        entry_link=entry_url(subject, entry.visit, instrument(entry.instrument), entry),
        offers=query_offers(current_user, query),
    )
