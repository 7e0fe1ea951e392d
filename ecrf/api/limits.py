"""Rate limits of the API, per user (Flask-Limiter): a token's user, not an address, is who asks.

Two limits, both counted per user over all the API's routes and all the user's tokens together: every request with
a usable token counts toward ECRF_API_RATE_LIMIT, and a write (POST, PUT, PATCH, DELETE) also toward
ECRF_API_WRITE_RATE_LIMIT. A user's second token shares the first one's count: making N tokens does not give N
times the limit (counted per token it would; a count per user is as strict as one per token, so there is no
second, per-token count). Requests without a usable token are not counted (they are refused 401 anyway), nor the
OpenAPI document and the docs page, nor anything outside /api/v1: the browser is never limited here.

Flask-Limiter checks its limits in a hook that runs before the API blueprint's own (the token check): the key
function therefore finds the token itself, through `request_token`, which keeps it for the token check.
A limit reached answers 429 in the API's error shape, with `Retry-After` (seconds until the window ends).

The limits are read from the app's configuration at each request (a test may lower them); the counts live in
RATELIMIT_STORAGE_URI (see config.py: memory:// counts per process).
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from ecrf.api.blueprint import OPEN_ENDPOINTS, READ_METHODS, bp, request_token
from ecrf.extensions import db
from ecrf.guards import api_error_response

#: The settings holding the limits (Flask-Limiter's notation: "600 per minute", "10/second; 500/hour"; empty: none).
LIMIT_SETTINGS = ("ECRF_API_RATE_LIMIT", "ECRF_API_WRITE_RATE_LIMIT")
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


class RateLimitSettingInvalid(RuntimeError):
    """A rate limit in the configuration that Flask-Limiter cannot read (the app refuses to start with it)."""


def _user_key() -> str:
    """What a limit counts by: the user of the request's token (every token of theirs together), never the
    client's address."""
    token = request_token()
    return f"user:{token.user_id}" if token is not None else ""


def _not_counted() -> bool:
    """The documentation, and requests without a usable token (answered 401 by the token check), are not counted."""
    return request.endpoint in OPEN_ENDPOINTS or request_token() is None


def _all_requests_limit() -> str:
    return current_app.config["ECRF_API_RATE_LIMIT"]


def _write_limit() -> str:
    return current_app.config["ECRF_API_WRITE_RATE_LIMIT"]


#: No default or application limit: only the API blueprint's two limits below exist.
limiter = Limiter(_user_key)
limiter.shared_limit(_all_requests_limit, scope="api", exempt_when=_not_counted)(bp)
limiter.shared_limit(_write_limit, scope="api-writes", methods=WRITE_METHODS, exempt_when=_not_counted)(bp)


def init_limits(app: Flask) -> None:
    """Check the configured limits (a typo stops the app at start, not each request later) and bind the limiter."""
    for name in LIMIT_SETTINGS:
        value = (app.config.get(name) or "").strip()
        try:
            if value:  # empty: no limit
                parse_many(value)
        except ValueError:
            raise RateLimitSettingInvalid(
                f"{name}: '{value}' is not a rate limit; write e.g. '600 per minute' or '10 per second; 500 per hour' (empty: no limit)"
            ) from None
    limiter.init_app(app)


def _seconds_to_wait() -> int:
    """Whole seconds until the window of the limit just reached ends (at least 1)."""
    reached = limiter.current_limit
    if reached is None:
        return 1
    return max(1, math.ceil(reached.window.reset_time - time.time()))


@bp.errorhandler(RateLimitExceeded)
def too_many_requests(error: RateLimitExceeded):
    """429 in the API's error shape, naming the token and the limit its user reached, with Retry-After."""
    db.session.rollback()
    seconds = _seconds_to_wait()
    token = request_token()
    counted = "writes" if request.method not in READ_METHODS and error.limit.methods else "requests"
    name = f" with the token '{token.name}'" if token is not None else ""
    message = f"Too many {counted}{name}: the limit is {error.limit.limit}, for all your tokens together. Try again in {seconds} seconds."
    return api_error_response(429, [(None, message)], {"Retry-After": str(seconds)})
