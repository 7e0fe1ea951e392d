"""Cursor pagination of API lists: keyset on the rows' id, the cursor an opaque token of the last id returned.

A list answers `{"items": [...], "next_cursor": "..."|null}`; the client sends `cursor=<next_cursor>` for the next
page. Pages are in id order, so a row added while a client pages through comes at the end instead of shifting the
pages; `limit` is 1 to 500 (default 100).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select

from ecrf.api.spec import ApiError
from ecrf.extensions import db
from ecrf.guards import ID_MAX

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
T = TypeVar("T")


class PageQuery(BaseModel):
    """The paging part of a list's query string."""

    cursor: str | None = Field(default=None, max_length=100, description="`next_cursor` of the previous page")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"rows per page, 1 to {MAX_LIMIT}")


class Page(BaseModel, Generic[T]):
    """One page of a list. Each list names its own: `class SubjectList(Page[SubjectOut]): "One page of subjects ..."`
    (its name and docstring are what the OpenAPI document shows)."""

    items: list[T]
    next_cursor: str | None = Field(description="send as `cursor` for the next page; null on the last page")


def encode_cursor(last_id: int) -> str:
    """The cursor that continues after the row with id `last_id`."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The last id a cursor stands for; a cursor this API did not give is refused (422, field `cursor`)."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "id" or not number.isdigit() or len(number) > 10 or int(number) > ID_MAX:
            raise ValueError(text)  # (ids are INTEGER columns: a larger number would fail on PostgreSQL)
        return int(number)
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise ApiError.one(422, "cursor: not a cursor from this API; send the next_cursor of the previous page.", "cursor") from error


def page(stmt: Select, id_column: Any, query: PageQuery) -> tuple[Sequence[Any], str | None]:
    """One page of `stmt` (selecting one model, whose primary key is `id_column`) and the cursor of the next page."""
    if query.cursor is not None:
        stmt = stmt.where(id_column > decode_cursor(query.cursor))
    items = list(db.session.scalars(stmt.order_by(id_column).limit(query.limit + 1)))
    if len(items) <= query.limit:
        return items, None
    items = items[: query.limit]
    return items, encode_cursor(items[-1].id)
