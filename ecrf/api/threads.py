"""A query's thread through the API: read it, and answer it as the site does on the query's page.

Who sees a query and who answers it is the page's rule (`ecrf.access.query_or_404`, `require_query_step`): site
staff answer; a monitor sees it but may not answer (403); another site's query is 404, as is any query for a
blinded assessor. The answer goes through `answer_query`, as on the page.
"""

from __future__ import annotations

from datetime import datetime

from flask_login import current_user
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response

from ecrf.access import query_or_404, require_query_step
from ecrf.api.blueprint import bp
from ecrf.api.bodies import parsed_body
from ecrf.api.spec import ERRORS, spec
from ecrf.api.writing import Answer, IdempotencyHeaders, api_write
from ecrf.crfs.registry import instrument
from ecrf.queries.models import DataQuery, QueryStatus
from ecrf.queries.services import answer_query


class QueryMessageOut(BaseModel):
    """One step of a query's thread."""

    kind: str = Field(description="raise, answer, close or reopen")
    text: str
    author: str = Field(description="the author's name")
    at: datetime


class QueryThread(BaseModel):
    """A query on one item of an entry, with its thread, oldest message first."""

    id: int
    entry_id: int
    subject_code: str
    site: str
    visit_code: str
    instrument: str = Field(description="the form's instrument code, e.g. abi")
    sequence: int = Field(description="the entry's number among the visit's entries of that instrument")
    field: str = Field(description="the item the query is about")
    field_label: str
    status: QueryStatus
    raised_by: str
    raised_at: datetime
    messages: list[QueryMessageOut]


class QueryAnswer(BaseModel):
    """The site's answer to a query."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="the answer (at most 2000 characters; no names); a value to correct is changed on the entry itself")


def query_thread(query: DataQuery) -> QueryThread:
    """A query and its thread as the API reads them."""
    entry = query.entry
    items = instrument(entry.instrument).items
    return QueryThread(
        id=query.id,
        entry_id=entry.id,
        subject_code=entry.subject.subject_code,
        site=entry.subject.site.code,
        visit_code=entry.visit.definition.code,
        instrument=entry.instrument,
        sequence=entry.sequence,
        field=query.field,
        field_label=items.label(query.field) if query.field in items else query.field,
        status=query.status,
        raised_by=query.raised_by.full_name,
        raised_at=query.raised_at,
        messages=[QueryMessageOut(kind=message.kind, text=message.text, author=message.author.full_name, at=message.at) for message in query.messages],
    )


def answerable_query(query_id: int) -> DataQuery:
    """The query, if the user sees it (else 404) and may answer it (else 403), as on the query's page."""
    found = query_or_404(current_user, query_id)
    require_query_step(current_user, found, "answer")
    return found


@bp.get("/queries/<int:query_id>")
@spec.validate(resp=Response(HTTP_200=QueryThread, **ERRORS), tags=["queries"])
def query_detail(query_id: int):
    """One query with its thread."""
    return query_thread(query_or_404(current_user, query_id))


@bp.post("/queries/<int:query_id>/answer")
@spec.validate(json=QueryAnswer, headers=IdempotencyHeaders, resp=Response(HTTP_200=QueryThread, **ERRORS), tags=["queries"], skip_validation=True)
@api_write(check=answerable_query, gives="found")
def query_answer(query_id: int, found: DataQuery) -> Answer:
    """The site answers an open query (site staff only). 200 with the query, now answered, and its thread."""
    body = parsed_body(QueryAnswer)
    answer_query(found, body.text, current_user)
    return Answer(query_thread(found))
