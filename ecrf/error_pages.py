"""Error pages that never fail themselves.

An error may leave the database session unusable (a failed flush: PendingRollbackError; PostgreSQL's aborted
transaction), and every page's navbar reads the logged-in user and their memberships. So each error page
first rolls the session back, then renders its template; if even that fails (the database is down), it
answers with a plain page that needs nothing, and logs why. Flask logs the original error of a 500.
"""

from __future__ import annotations

from html import escape

from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import MethodNotAllowed

from ecrf.extensions import db
from ecrf.guards import (
    API_MESSAGES,
    api_control_character_problem,
    api_error_response,
    control_character_problem,
    is_api_path,
    refuse_control_character_in_path,
)

#: Title and text of each error page, also used by the plain page when the template cannot be rendered.
TEXTS = {
    400: ("Not accepted", "The request could not be accepted. Nothing was saved."),
    403: ("Not allowed", "Your role does not allow this action."),
    404: ("Not found", "There is no such page, or it belongs to a site you are not a member of."),
    500: ("Something went wrong", "The error has been logged. Nothing you had already saved is lost."),
}
PLAIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · eCRF</title></head>
<body><h1>{title}</h1><p>{text}</p><p><a href="{home}">Back to the worklist</a></p></body></html>
"""


def _roll_back() -> None:
    try:
        db.session.rollback()
    except Exception:
        current_app.logger.exception("Rolling back before an error page failed")
        try:
            db.session.remove()
        except Exception:
            current_app.logger.exception("Discarding the session before an error page failed")


def error_page(template: str, code: int, message: str | None = None, field: str | None = None) -> tuple[str | Response, int]:
    """The error page `template` with status `code` after a rollback; a plain page if rendering fails. Under the
    API's path, the API's JSON error instead (`{"errors": [{"field": ..., "message": ...}]}`), never a page."""
    _roll_back()
    if is_api_path(request.path):
        return api_error_response(code, [(field, message or API_MESSAGES.get(code) or TEXTS.get(code, TEXTS[500])[1])]), code
    try:
        return render_template(template, message=message), code
    except Exception:
        current_app.logger.exception("The error page %s (status %s) could not be rendered; sent the plain page", template, code)
        _roll_back()
        title, text = TEXTS.get(code, TEXTS[500])
        page = PLAIN_PAGE.format(title=escape(title), text=escape(message or text), home=escape(request.script_root + "/"))
        return Response(page, mimetype="text/html"), code


def refuse_control_characters() -> tuple[str | Response, int] | None:
    """Before anything else reads the request: a control character in a query argument or form value gets a 400
    page naming the field (nothing is written); in the URL path, 404. The API answers as it does to any input it
    refuses, 422 naming the parameter, and looks into JSON bodies as well."""
    if is_api_path(request.path):
        refuse_control_character_in_path()
        found = api_control_character_problem()
        return error_page("errors/400.html", 422, found[1], field=found[0]) if found else None
    problem = control_character_problem()
    return error_page("errors/400.html", 400, problem) if problem else None


def register_error_pages(app: Flask) -> None:
    """The 400 (control characters), 403, 404, 500 and CSRF pages, and the hook refusing control characters."""
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_control_characters)  # before CSRF, log-in, views
    app.register_error_handler(CSRFError, lambda _error: error_page("errors/csrf.html", 400))
    for code in (403, 404, 500):
        app.register_error_handler(code, lambda _error, code=code: error_page(f"errors/{code}.html", code))
    app.register_error_handler(405, _method_not_allowed)


def _method_not_allowed(error: MethodNotAllowed):
    """405: the API's JSON error under its path (with Allow); Werkzeug's own answer elsewhere."""
    if not is_api_path(request.path):
        return error
    allowed = ", ".join(error.valid_methods or [])
    return api_error_response(405, [(None, f"{request.method} is not allowed here; allowed: {allowed}.")], {"Allow": allowed})
