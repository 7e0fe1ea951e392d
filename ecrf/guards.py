"""Bad input stops at the door: it is answered with 404 or 400, never reaches the database, never a 500.

- Every `<int:...>` in a URL is a database id: 1 to ID_MAX (2**31 - 1: ids are INTEGER columns), else "not found".
- A control character other than tab, CR and LF (NUL above all: PostgreSQL refuses text holding one) in a
  URL path is "not found"; in a query argument or a form value it is refused, naming the field, before any
  view runs, so nothing is written.
- Integer query arguments (`?page=`) are read with `int_arg`, which keeps them within bounds.
- An API request's JSON body is parsed once (`api_json_body`, kept for the request): a body that is not JSON, or
  nests deeper than `JSON_DEPTH`, is `NotJson` (the API answers 422), never a RecursionError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal

from flask import Response, abort, g, jsonify, request
from werkzeug.routing import IntegerConverter as WerkzeugIntegerConverter
from werkzeug.routing import Map, ValidationError

#: The largest value of a 64-bit signed integer column (PostgreSQL BIGINT, SQLite INTEGER).
BIGINT_MAX = 2**63 - 1
#: The largest id: ids are INTEGER columns, 32-bit on PostgreSQL (a larger number compared with one fails there).
ID_MAX = 2**31 - 1
#: C0 control characters except tab, LF and CR.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
C0_NAMES = (
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "BEL",
    "BS",
    "HT",
    "LF",
    "VT",
    "FF",
    "CR",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "FS",
    "GS",
    "RS",
    "US",
)


class IntegerConverter(WerkzeugIntegerConverter):
    """`<int:...>` in this app is a database id: a whole number from 1 to ID_MAX, anything else does not match
    (404). It keeps werkzeug's class name, which code looking at a rule's converters by name expects."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = 1, max: int | None = ID_MAX, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)

    def to_python(self, value: str) -> int:
        """The id, or ValidationError (404) when out of range; overlong digit strings are not even converted."""
        if len(value.lstrip("-0")) > len(str(BIGINT_MAX)):
            raise ValidationError()
        return super().to_python(value)


def control_character_name(character: str) -> str:
    """The C0 control character's abbreviation (NUL, ESC ...)."""
    return C0_NAMES[ord(character)]


def _printable(name: str) -> str:
    return CONTROL_CHARACTER.sub(lambda match: f"\\x{ord(match.group()):02x}", name)


def refuse_control_character_in_path() -> None:
    """404 for a path holding a control character (no page or object has one)."""
    if CONTROL_CHARACTER.search(request.path):
        abort(404)


def control_character_problem() -> str | None:
    """What is wrong with the request if a query argument or form value holds a control character; 404 for the path."""
    refuse_control_character_in_path()
    for values, what, again in ((request.args, "Parameter '{}' in the address", "open the page again"), (request.form, "Field '{}'", "send the form again")):
        for name, value in values.items(multi=True):
            found = CONTROL_CHARACTER.search(name) or CONTROL_CHARACTER.search(value)
            if found:
                return (
                    f"{what.format(_printable(name))} contains a control character ({control_character_name(found.group())}), "
                    f"which is not allowed; remove it and {again}."
                )
    return None


#: How deep an API body may nest (the deepest the API reads is 3: `{"missing": {"item": {"code": ...}}}`).
JSON_DEPTH = 32
#: Where a request keeps its parsed JSON body (`api_json_body`); emptied when the request ends (`ecrf.create_app`).
_BODY = "_ecrf_api_body"
NOT_JSON = "body: not valid JSON; send a JSON object with Content-Type: application/json."


class JsonNumber(float):
    """A JSON number with a fraction or an exponent, as parsed (`api_json_body`): its float and the text it was
    written as, so that a number with more digits than a float keeps is refused, never rounded."""

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number

    @property
    def exact(self) -> bool:
        """Whether the float is the number written (100.5 is; 100.00000000000000000001 and 1e400 are not)."""
        return Decimal(repr(float(self))) == Decimal(self.text)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


class NotJson(ValueError):
    """The request's body is not JSON the API reads (not JSON at all, or nested deeper than `JSON_DEPTH`)."""


def _parse(data: bytes) -> object:
    if not data.strip():
        return None
    try:
        document = json.loads(data, parse_float=JsonNumber, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the interpreter's stack allows
        raise NotJson(NOT_JSON) from None
    if any(len(path) > JSON_DEPTH for path, _ in json_values(document)):
        raise NotJson(f"body: not valid JSON here: nested deeper than {JSON_DEPTH} levels.")
    return document


def api_json_body() -> object:
    """The request's body parsed as JSON, once per request whatever its Content-Type says (None: no body); NotJson
    if it is not JSON, or nests deeper than `JSON_DEPTH`."""
    if _BODY not in g:
        try:
            setattr(g, _BODY, _parse(request.get_data(cache=True)))
        except NotJson as error:
            setattr(g, _BODY, error)
    found = g.get(_BODY)
    if isinstance(found, NotJson):
        raise NotJson(*found.args)
    return found


def json_values(document: object) -> Iterator[tuple[tuple[str, ...], object]]:
    """Every value of a JSON document with its path (object keys and list indexes, as text), the document's own
    first; without recursion, so any depth is walked."""
    stack: list[tuple[tuple[str, ...], object]] = [((), document)]
    while stack:
        path, value = stack.pop()
        yield path, value
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend(((*path, str(key)), item) for key, item in reversed(list(items)))


def api_control_character_problem() -> tuple[str, str] | None:
    """Under the API: the query parameter, or the key or string of a JSON body (as a dotted path), holding a control
    character, and a message naming it; None when there is none. (PostgreSQL refuses text holding NUL: such a value
    is refused before anything reads it.)"""
    for name, value in request.args.items(multi=True):
        found = CONTROL_CHARACTER.search(name) or CONTROL_CHARACTER.search(value)
        if found:
            return control_character_in(_printable(name), found.group())
    # The body is read as JSON whatever its Content-Type says (nothing may slip past this check by naming another
    # type). A body that is not JSON holds nothing to look into: the route refuses it (422) once it reads it.
    try:
        document = api_json_body()
    except NotJson:
        return None
    for path, node in json_values(document):
        found = CONTROL_CHARACTER.search(path[-1]) if path else None  # the key naming the value
        if found:
            return control_character_in(".".join(_printable(part) for part in path), found.group())
        found = CONTROL_CHARACTER.search(node) if isinstance(node, str) else None
        if found:
            return control_character_in(".".join(_printable(part) for part in path) or "body", found.group())
    return None


def control_character_in(field: str, character: str) -> tuple[str, str]:
    """The API's problem (field, message) for a control character in a field (a parameter, a header, a value)."""
    return field, f"{field}: contains a control character ({control_character_name(character)}), which is not allowed; remove it."


def int_arg(name: str, default: int, low: int = 1, high: int = BIGINT_MAX) -> int:
    """An integer query argument kept within [low, high]; `default` when absent or not a whole number."""
    text = request.args.get(name, "").strip()
    if not re.fullmatch(r"[+-]?\d{1,30}", text):
        return default
    return min(max(int(text), low), high)


#: Where the token API lives (ecrf.api): its requests authenticate by token and get JSON errors, never pages.
API_PREFIX = "/api/v1"


def is_api_path(path: str) -> bool:
    """Whether a request path is the API's."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


#: The API's words for an error that says no more (one wording, whether a view's access check or the app's handler
#: of an unknown path under the API gives it).
API_MESSAGES = {
    401: "Authorization: a valid token is needed.",
    403: "Your role does not allow this action.",
    404: "There is no such object, or it belongs to a site you are not a member of.",
}


def api_error_response(status: int, problems: Sequence[tuple[str | None, str]], headers: Mapping[str, str] | None = None) -> Response:
    """The API's answer to anything it refuses: `{"errors": [{"field": ..., "message": ...}]}` with `status` (the
    only place that shape is written: the API's handlers and the app's error pages under the API's path use it)."""
    response = jsonify(errors=[{"field": field, "message": message} for field, message in problems])
    response.status_code = status
    response.headers.update(dict(headers or {}))
    return response
