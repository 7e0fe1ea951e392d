"""Reading a write request's JSON body inside its view, once the object is found and the user's rights checked.

Write routes declare their body model with `spec.validate(json=..., skip_validation=True)` (the document) and read
it here, so that another site's object is 404 and a missing right 403 whatever the body holds, as for pages. The
body is read in JSON's own strictness (a number is not a string, a date is an ISO text). (A control character in any
text of it was refused before the view, as in a posted form: `ecrf.guards`.)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from ecrf.api.spec import ApiError, validation_problems

M = TypeVar("M", bound=BaseModel)
#: Turns one of pydantic's errors into the API's problem (field, message); None: pydantic's own message.
Explain = Callable[[Mapping[str, Any]], tuple[str | None, str] | None]


def json_object() -> dict[str, Any]:
    """The request's body as a JSON object (422 if it is not one, or not sent as application/json)."""
    if not request.is_json:
        raise ApiError.one(422, "body: send a JSON object, with Content-Type: application/json.")
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        raise ApiError.one(422, "body: not valid JSON; send a JSON object with Content-Type: application/json.") from None
    if not isinstance(data, dict):
        raise ApiError.one(422, "body: send a JSON object, with Content-Type: application/json.")
    return data  # (a control character in it was refused before: `ecrf.guards.api_control_character_problem`)


def parsed_body(model: type[M], explain: Explain | None = None) -> M:
    """The request's body read with `model` (422 naming each field that breaks it; `explain` words a problem where
    pydantic's message would not say enough)."""
    json_object()
    try:
        return model.model_validate_json(request.get_data(cache=True), strict=True)
    except ValidationError as error:
        problems = []
        for detail in error.errors():
            problems += [(explain and explain(detail)) or validation_problems([detail])[0]]
        raise ApiError(422, problems) from None
