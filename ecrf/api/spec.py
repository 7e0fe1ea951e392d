"""The API's OpenAPI 3.1 document and its validation (spectree, from pydantic models), and its error answers.

Every route is declared with `spec.validate(...)`: its query, body and response models are the document. A read's
query is validated by spectree before the view runs (after the route's access check where `checked_first` gives
one: 404 and 403 come before 422); a write's body is read by the view itself once it has found the object and
checked the user's rights (`skip_validation=True`, `ecrf.api.bodies.parsed_body`). Every error is
`{"errors": [{"field": ..., "message": ...}]}` (`ecrf.guards.api_error_response`); `field` is null where the
problem is not one field's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from spectree import SecurityScheme, SpecTree
from spectree.models import SecureType, SecuritySchemeData

from ecrf.guards import API_PREFIX

__all__ = ["API_PREFIX", "ERRORS", "ApiError", "Problem", "Problems", "spec", "validation_problems"]


class Problem(BaseModel):
    """One thing wrong: the field (a dotted path into the body or query; null for the request as a whole)."""

    field: str | None
    message: str


class Problems(BaseModel):
    """The body of every 4xx/5xx answer of the API."""

    errors: list[Problem]


#: Error answers every route needing a token may give (in the API's error shape).
ERRORS = {"HTTP_401": Problems, "HTTP_403": Problems, "HTTP_404": Problems, "HTTP_422": Problems, "HTTP_429": Problems}


class ApiError(Exception):
    """An answer other than success: status, problems, and headers (Retry-After, WWW-Authenticate ...)."""

    def __init__(self, status: int, problems: Sequence[tuple[str | None, str]], headers: Mapping[str, str] | None = None) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.status = status
        self.problems = list(problems)
        self.headers = dict(headers or {})

    @classmethod
    def one(cls, status: int, message: str, field: str | None = None, headers: Mapping[str, str] | None = None) -> ApiError:
        """An error with one problem."""
        return cls(status, [(field, message)], headers)


def _field(location: Sequence[Any]) -> str | None:
    return ".".join(str(part) for part in location) or None


#: pydantic's error types for a date or a time of the wrong form, and what to say instead (the form to write).
_FORMATS = {
    "date_type": "enter the date as YYYY-MM-DD",
    "date_parsing": "enter the date as YYYY-MM-DD",
    "date_from_datetime_parsing": "enter the date as YYYY-MM-DD",
    "date_from_datetime_inexact": "enter the date as YYYY-MM-DD, without a time",
    "time_type": "enter the time as HH:MM (the site's local time)",
    "time_parsing": "enter the time as HH:MM (the site's local time)",
}


def validation_problems(errors: Sequence[Mapping[str, Any]], prefix: Sequence[Any] = ()) -> list[tuple[str | None, str]]:
    """pydantic's errors (`ValidationError.errors()`) as the API's problems: the dotted field and pydantic's message
    (for a date or time of the wrong form, the form to write it in)."""
    problems: list[tuple[str | None, str]] = []
    for error in errors:
        field = _field([*prefix, *error.get("loc", ())])
        problems.append((field, f"{field or 'request'}: {_FORMATS.get(error.get('type', ''), error['msg'])}"))
    return problems


def _refuse_invalid(request, response, request_error, instance, *args: Any) -> None:
    """spectree's hook before a view: a request that breaks its models becomes a 422 in the API's error shape."""
    if request_error is None:
        return
    raise ApiError(422, validation_problems(request_error.errors()))


#: One document for the whole API; only routes declared with `spec.validate` are in it.
spec = SpecTree(
    "flask",
    title="eCRF API",
    version="1",
    description=(
        "Token API of the eCRF. Authenticate with `Authorization: Bearer <token>` (a personal access token from your "
        "account page). A token acts with its user's memberships and roles. Errors: `{errors: [{field, message}]}`. "
        "Requests are limited per user, all of their tokens together; over a limit the answer is 429 with `Retry-After` (seconds)."
    ),
    mode="strict",  # only the routes declared with spec.validate
    # Not registered on the app (spectree would leave out of the document every route under its own path): the
    # app serves the document itself at /api/v1/openapi.json, and its own docs page (ecrf.api.docs).
    page_templates={},
    validation_error_status=422,
    before=_refuse_invalid,
    security_schemes=[SecurityScheme(name="token", data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer"))],
    security={"token": []},
)
