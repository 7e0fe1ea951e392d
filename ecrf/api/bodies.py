"""Reading a write request's JSON body inside its view, once the object is found and the user's rights checked.

Write routes declare their body model with `spec.validate(json=..., skip_validation=True)` (the document) and read
it here, so that another site's object is 404 and a missing right 403 whatever the body holds, as for pages. The
body is read in JSON's own strictness (a number is not a string, a date is an ISO text). (A control character in any
text of it was refused before the view, as in a posted form: `ecrf.guards`.)

The body is parsed once per request (`ecrf.guards.api_json_body`: the guard, `json_object` and `body_field` share
it); pydantic reads the bytes once more for its strict JSON mode (which takes dates as ISO text: its strict python
mode would not), and once again only when items are set aside.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from ecrf.api.spec import ApiError, validation_problems
from ecrf.guards import JsonNumber, NotJson, api_json_body, json_values

M = TypeVar("M", bound=BaseModel)
#: A problem of a body: the field (None: the body as a whole) and the message.
Found = tuple[str | None, str]
#: Turns one of pydantic's errors into the API's problem (field, message); None: pydantic's own message.
Explain = Callable[[Mapping[str, Any]], Found | None]


def json_object() -> dict[str, Any]:
    """The request's body as a JSON object (422 if it is not one, or not sent as application/json); parsed once per
    request (`ecrf.guards.api_json_body`, which the control-character guard read first)."""
    if not request.is_json:
        raise ApiError.one(422, "body: send a JSON object, with Content-Type: application/json.")
    try:
        data = api_json_body()
    except NotJson as error:
        raise ApiError.one(422, str(error)) from None
    if not isinstance(data, dict):
        raise ApiError.one(422, "body: send a JSON object, with Content-Type: application/json.")
    for path, value in json_values(data):
        if isinstance(value, JsonNumber) and not value.exact:  # the API never drops part of a value
            field = ".".join(path)
            raise ApiError.one(
                422, f'{field}: {value.text} has more digits than a JSON number keeps; send it as a string ("{value.text}") to keep every digit.', field
            )
    return data  # (a control character in it was refused before: `ecrf.guards.api_control_character_problem`)


def body_field(name: str) -> object:
    """A top-level field of the JSON body, for a route's access check (which runs before the body is judged); None
    when it is absent or the body is not a JSON object (the view refuses such a body)."""
    try:
        data = api_json_body()
    except NotJson:
        return None
    return data.get(name) if isinstance(data, dict) else None


def read_body(model: type[M], explain: Explain | None = None, *, set_aside: str | None = None) -> tuple[M, list[Found], set[str]]:
    """The request's body read with `model`, strictly; each of pydantic's refusals is a problem (field, message),
    worded by `explain` where pydantic's message would not say enough, and any problem is 422 at once. Except with
    `set_aside`, a part of the body holding items (`"values"`): items there refused for their JSON type are left
    out and the rest read, so that the caller's own checks of the other items join them in one answer. Returns the
    body (without the items set aside), their problems and their names."""
    data = json_object()
    try:
        return model.model_validate_json(request.get_data(cache=True), strict=True), [], set()
    except ValidationError as error:
        details = error.errors()
    problems = [(explain and explain(detail)) or validation_problems([detail])[0] for detail in details]
    aside = {str(detail["loc"][1]) for detail in details if len(detail["loc"]) == 2 and detail["loc"][0] == set_aside}
    if set_aside is None or len(aside) != len(problems) or not isinstance(data.get(set_aside), dict):
        raise ApiError(422, problems)
    kept = {**data, set_aside: {name: value for name, value in data[set_aside].items() if name not in aside}}
    try:
        return model.model_validate_json(json.dumps(kept), strict=True), problems, aside
    except ValidationError:
        raise ApiError(422, problems) from None


def parsed_body(model: type[M]) -> M:
    """The request's body read with `model` (422 naming each field that breaks it)."""
    body, _, _ = read_body(model)
    return body
