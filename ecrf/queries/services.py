"""Raising, answering, closing and re-opening queries; the thread is kept."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from ecrf.auth.models import User
from ecrf.crfs.models import CrfEntry
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.queries.models import DataQuery, QueryMessage, QueryStatus


def _text(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise InvalidInput.at("text", "Text: required; say what is in question (no names).")
    if len(text) > 2000:
        raise InvalidInput.at("text", "Text: at most 2000 characters.")
    return text


def raise_query(entry: CrfEntry, field: str, text: str, by: User) -> DataQuery:
    """A monitor or data manager asks about one field of a form."""
    query = DataQuery(entry_id=entry.id, subject_id=entry.subject_id, field=field, raised_by_id=by.id)
    query.messages.append(QueryMessage(kind="raise", text=_text(text), author_id=by.id))
    db.session.add(query)
    db.session.flush()
    return query


def _step(query: DataQuery, kind: str, allowed_from: tuple[QueryStatus, ...], to: QueryStatus, text: str, by: User) -> None:
    if query.status not in allowed_from:
        raise InvalidInput.at(None, f"A query that is {query.status.value} cannot be {dict(answer='answered', close='closed', reopen='re-opened')[kind]}.")
    query.messages.append(QueryMessage(kind=kind, text=_text(text), author_id=by.id))
    query.status = to
    db.session.flush()


def answer_query(query: DataQuery, text: str, by: User) -> None:
    """The site answers (and may correct the field, with a reason, on the form itself)."""
    _step(query, "answer", (QueryStatus.OPEN,), QueryStatus.ANSWERED, text, by)


def close_query(query: DataQuery, text: str, by: User) -> None:
    """The raiser accepts the answer."""
    _step(query, "close", (QueryStatus.ANSWERED, QueryStatus.OPEN), QueryStatus.CLOSED, text, by)


def reopen_query(query: DataQuery, text: str, by: User) -> None:
    """The raiser does not accept the answer: the site must answer again."""
    _step(query, "reopen", (QueryStatus.ANSWERED, QueryStatus.CLOSED), QueryStatus.OPEN, text, by)


def open_query_count(entry: CrfEntry) -> int:
    """Queries on the entry not yet closed."""
    return db.session.scalar(select(func.count(DataQuery.id)).where(DataQuery.entry_id == entry.id, DataQuery.status != QueryStatus.CLOSED)) or 0


def entry_queries(entry: CrfEntry) -> Sequence[DataQuery]:
    """Every query of an entry, oldest first."""
    return db.session.scalars(select(DataQuery).where(DataQuery.entry_id == entry.id).order_by(DataQuery.id)).all()
