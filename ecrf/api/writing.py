"""How an API route writes: one transaction per request, committed here; a repeated POST (Idempotency-Key) answered
from the first one; a lost race retried where safe, else refused; a service's refusal as 422.

A write route is declared `@bp.post(...)`, `@spec.validate(...)`, `@api_write(check=..., gives=...)`, and returns
an `Answer` (its body model, status and headers). It never commits itself. `check` is the route's access check: it
runs first, with the route's path arguments, and aborts 404 for an object the user may not see, 403 for a right
they lack; what it returns (the object the route writes to) is given to the view as its argument `gives`.

Idempotency-Key: the first answer (2xx) of a key is stored with the request's method, path and a digest of its
body, in the same transaction as the write. The same token sending the same key again gets that answer again
(header `Idempotent-Replayed: true`), with nothing written, provided its user still passes the route's access check
(a user who lost their membership, or their right, gets 404 or 403, never the stored answer). So a route's check
covers everything its answer shows, not only the object of the path: a new entry's check also judges the form the
body names (`ecrf.api.entries.enterable_visit`). The same key with
another request is refused (422). An answer is kept `IDEMPOTENCY_RETENTION` (a day, `ecrf.api.jobs`): after that
the key is new again.
Two requests with one key at the same moment: the database's unique key lets one write, the other then replays
it; so does one refused (422, 409) because its twin had just done the same thing. Refusals (4xx) are not stored: a
corrected request may use the same key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from ecrf.api.blueprint import current_token
from ecrf.api.jobs import kept_since
from ecrf.api.models import IdempotentRequest
from ecrf.api.scope import checked_first
from ecrf.api.spec import ApiError
from ecrf.db import commit_with_retry, lost_race, race_kind
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.guards import CONTROL_CHARACTER, control_character_in
from ecrf.web import RACE_ATTEMPTS, RACE_LOST, SQLITE_BUSY_ATTEMPTS

KEY_HEADER = "Idempotency-Key"
KEY_LENGTH = 200
#: Headers of a first answer that a replay gives again.
REPLAYED_HEADERS = ("ETag", "Location")


class IdempotencyHeaders(BaseModel):
    """The header a POST may carry (for the document: `spec.validate(headers=IdempotencyHeaders, ...)`)."""

    model_config = ConfigDict(populate_by_name=True)

    idempotency_key: str | None = Field(
        default=None,
        alias="Idempotency-Key",  # KEY_HEADER
        max_length=KEY_LENGTH,
        description="a key of your choosing (a UUID); the same POST sent again with it is answered as the first time, and done once",
    )


@dataclass
class Answer:
    """What a write route answers: the body, the status, extra headers (ETag, Location)."""

    body: BaseModel
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


def _response(answer: Answer) -> Response:
    return current_app.response_class(answer.body.model_dump_json(), status=answer.status, headers=answer.headers, mimetype="application/json")


def _key() -> str | None:
    key = request.headers.get(KEY_HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > KEY_LENGTH:
        raise ApiError.one(422, f"{KEY_HEADER}: 1 to {KEY_LENGTH} characters (a UUID is a good key).", KEY_HEADER)
    if found := CONTROL_CHARACTER.search(key):  # (PostgreSQL refuses text holding NUL)
        raise ApiError(422, [control_character_in(KEY_HEADER, found.group())])
    return key


def _fingerprint() -> str:
    return hashlib.sha256(request.get_data()).hexdigest()


def _replay(key: str) -> Response | None:
    stored = db.session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.token_id == current_token().id, IdempotentRequest.key == key, IdempotentRequest.created_at >= kept_since()
        )
    )
    if stored is None:
        return None
    if (stored.method, stored.path, stored.body_sha256) != (request.method, request.path, _fingerprint()):
        raise ApiError.one(
            422, f"{KEY_HEADER}: this key was used for another request ({stored.method} {stored.path}); use a new key for a new request.", KEY_HEADER
        )
    headers = {**json.loads(stored.response_headers), "Idempotent-Replayed": "true"}
    return current_app.response_class(stored.response_body, status=stored.status_code, headers=headers, mimetype="application/json")


def _remember(key: str, response: Response) -> None:
    # An answer of this key past its retention that the hourly purge has not yet deleted: the key is new again.
    db.session.execute(
        delete(IdempotentRequest).where(
            IdempotentRequest.token_id == current_token().id, IdempotentRequest.key == key, IdempotentRequest.created_at < kept_since()
        )
    )
    db.session.add(
        IdempotentRequest(
            token_id=current_token().id,
            key=key,
            method=request.method,
            path=request.path,
            body_sha256=_fingerprint(),
            status_code=response.status_code,
            response_body=response.get_data(as_text=True),
            response_headers=json.dumps({name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}),
        )
    )


def api_write(*, check: Callable[..., object], gives: str | None = None, retry_races: bool = False, on_race: Callable[[], ApiError] | None = None):
    """Decorate an API write route (see the module's docstring). `check`: the route's access check, run with its
    path arguments before anything else (a repeated key's answer, the body); `gives`: the view's argument that
    receives what `check` returns; `retry_races`: run the whole request again when it lost a race that a new
    attempt decides afresh (the next subject number); `on_race`: the error for a race lost for good (default 409
    naming no field)."""

    def decorate(view: Callable[..., Answer]) -> Callable[..., Response]:
        @wraps(view)
        def run(*args: Any, **kwargs: Any) -> Response:
            key = _key()
            if key is not None and (replay := _replay(key)) is not None:
                return replay

            def work() -> Response:
                response = _response(view(*args, **kwargs))
                if key is not None and response.status_code < 300:
                    _remember(key, response)
                return response

            attempts = RACE_ATTEMPTS if retry_races else 1
            for attempt in range(1, attempts + 1):
                try:
                    return commit_with_retry(db.session, work, attempts=SQLITE_BUSY_ATTEMPTS)
                except InvalidInput as error:
                    db.session.rollback()
                    if key is not None and (replay := _replay(key)) is not None:
                        return replay  # refused only because this very request, sent twice at once, had just done it
                    raise ApiError(422, list(error.problems)) from error
                except ApiError:
                    db.session.rollback()
                    if key is not None and (replay := _replay(key)) is not None:
                        return replay  # (a conflict, e.g. 409 "already enrolled", with the twin of this request)
                    raise
                except (IntegrityError, StaleDataError, OperationalError) as error:
                    db.session.rollback()
                    if not lost_race(error):
                        raise
                    if key is not None and (replay := _replay(key)) is not None:
                        return replay  # the race was with this very request, sent twice
                    current_app.logger.info("%s lost a race (attempt %s of %s): %s", request.endpoint, attempt, attempts, race_kind(error))
                    if attempt < attempts:
                        continue
                    raise (on_race() if on_race is not None else ApiError.one(409, RACE_LOST)) from error
            raise AssertionError("unreachable")

        return checked_first(check, gives=gives)(run)

    return decorate
