"""The API blueprint: every request under /api/v1 authenticates with a token, and every error answers in JSON.

The browser's log-in, idle-session and one-time-password hooks do not apply here (see `ecrf.create_app`), nor
CSRF (a token in a header is not sent by a browser on its own). What a token's user may see and do is decided by
`ecrf.access`, exactly as for pages: another site's object is 404, a role's missing right 403.
"""

from __future__ import annotations

from flask import Blueprint, g, request
from werkzeug.exceptions import HTTPException

from ecrf.api.models import ApiToken
from ecrf.api.spec import API_PREFIX, ApiError
from ecrf.api.tokens import note_use, usable_token
from ecrf.audit.trail import set_actor
from ecrf.db import commit_with_retry
from ecrf.errors import InvalidInput
from ecrf.extensions import csrf, db
from ecrf.guards import API_MESSAGES, api_error_response

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
csrf.exempt(bp)

#: Pages of the API open without a token: its document and documentation.
OPEN_ENDPOINTS = {"api.openapi_document", "api.docs", "api.swagger_static"}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ecrf"'}


#: Where a request keeps its token once found (`request_token`); emptied when the request ends (`ecrf.create_app`).
TOKEN_CACHE = "_ecrf_api_token"


def _bearer_secret() -> str | None:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def request_token() -> ApiToken | None:
    """The usable token the request sends (Authorization: Bearer ...), or None; looked up once per request (the rate
    limiter, which runs first, counts by it: `ecrf.api.limits`)."""
    if TOKEN_CACHE not in g:
        secret = _bearer_secret()
        setattr(g, TOKEN_CACHE, usable_token(secret) if secret is not None else None)
    return g.get(TOKEN_CACHE)


def current_token() -> ApiToken:
    """The token the current API request authenticated with."""
    return g.api_token


@bp.before_request
def authenticate():
    """Find the request's token (Authorization: Bearer ...); act as its user from here on, audited under its name."""
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if _bearer_secret() is None:
        raise ApiError.one(401, "Authorization: send a personal access token as 'Authorization: Bearer <token>'.", headers=_CHALLENGE)
    token = request_token()
    if token is None:
        raise ApiError.one(401, "Authorization: the token is unknown, expired or revoked, or its account is disabled.", headers=_CHALLENGE)
    if token.read_only and request.method not in READ_METHODS:
        raise ApiError.one(403, f"The token '{token.name}' is read-only: it may not write.")
    g.api_token = token
    g._login_user = token.user  # Flask-Login's current_user, for access checks and templates alike
    set_actor(db.session, token.user, via=token.way_in)
    commit_with_retry(db.session, lambda: note_use(token))  # (SQLite: a busy database is waited for, as for any write)
    return None


@bp.errorhandler(ApiError)
def api_error(error: ApiError):
    """An ApiError as its JSON answer (after a rollback: nothing half-done is kept)."""
    db.session.rollback()
    return api_error_response(error.status, error.problems, error.headers)


@bp.errorhandler(InvalidInput)
def invalid_input(error: InvalidInput):
    """A service refused the input: 422 with each problem's field and message."""
    db.session.rollback()
    return api_error_response(422, list(error.problems))


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    """An HTTP error raised in the API's views, in the API's JSON shape. (404, 403, 405 and 500 have the app's own
    handlers in `ecrf.error_pages`, which Flask prefers to this one and which answer under the API's path in this
    shape and with the same words, `ecrf.guards.API_MESSAGES`.)"""
    db.session.rollback()
    code = error.code or 500
    return api_error_response(code, [(None, API_MESSAGES.get(code, error.description or error.name))])
