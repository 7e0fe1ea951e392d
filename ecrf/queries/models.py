"""A query on one field of one form entry, and its thread of messages."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ecrf.auth.models import User
from ecrf.clock import now_utc
from ecrf.crfs.models import CrfEntry
from ecrf.db import ShortStrEnum, UTCDateTime
from ecrf.extensions import Model


class QueryStatus(ShortStrEnum):
    """Open: the site must answer. Answered: the raiser must close or re-open. Closed: done."""

    OPEN = "open"
    ANSWERED = "answered"
    CLOSED = "closed"

    @property
    def css(self) -> str:
        """Bootstrap colour of this status's badge."""
        return {"open": "danger", "answered": "warning", "closed": "success"}[self.value]

    @property
    def next_steps(self) -> tuple[str, ...]:
        """The steps of a query's thread that can follow this status: an open query is answered; one not closed
        can be closed; one not open can be re-opened (who may take them: `ecrf.access.may_take_query_step`)."""
        return tuple(
            step
            for step, possible in (("answer", self is QueryStatus.OPEN), ("close", self is not QueryStatus.CLOSED), ("reopen", self is not QueryStatus.OPEN))
            if possible
        )


class DataQuery(Model):
    """A question about one field of a form."""

    __tablename__ = "data_queries"
    __table_args__ = (Index("ix_data_queries_entry", "entry_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("crf_entries.id"))
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    #: The form field the query is about.
    field: Mapped[str] = mapped_column(String(80))
    status: Mapped[QueryStatus] = mapped_column(default=QueryStatus.OPEN)
    raised_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    entry: Mapped[CrfEntry] = relationship()
    raised_by: Mapped[User] = relationship()
    messages: Mapped[list[QueryMessage]] = relationship(back_populates="query", order_by="QueryMessage.id")


class QueryMessage(Model):
    """One step of a query's thread: raised, answered, closed or re-opened, with its text."""

    __tablename__ = "query_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("data_queries.id"), index=True)
    #: raise / answer / close / reopen
    kind: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)

    query: Mapped[DataQuery] = relationship(back_populates="messages")
    author: Mapped[User] = relationship()
