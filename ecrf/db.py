"""Declarative base, the only dialect-specific database code, and the ways writes are made safe against concurrent
requests: a conditional UPDATE (`update_where`), a row held until commit (`lock_row`), a whole transaction run
again (`commit_with_retry`), and telling a lost race from a real error (`lost_race`)."""

from __future__ import annotations

import enum
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import DateTime, MetaData, TypeDecorator, event, select, update
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import registry as mapper_registry
from sqlalchemy.orm.exc import StaleDataError

#: Stable constraint names, so migrations can refer to them on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


T = TypeVar("T")


class ShortStrEnum(enum.StrEnum):
    """Base of the enums whose column is VARCHAR(10) (the width those columns were created with); other
    `StrEnum` columns are VARCHAR(20). It has no members: an enum of stored codes subclasses it or `StrEnum`."""


def _stored_enum(length: int) -> SAEnum:
    """How a `Mapped[SomeStrEnum]` column is stored: the members' values (not their names) in a VARCHAR of this
    width, checked in Python only (no native enum type, no CHECK constraint)."""
    return SAEnum(enum.Enum, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members])


class Base(DeclarativeBase):
    """Base of every model."""

    #: The type annotation map makes `status: Mapped[FlagStatus]` the whole declaration of an enum column (the
    #: nearest class in the enum's MRO decides the width: `ShortStrEnum` before `StrEnum`). It is given to the
    #: registry, not as the class attribute, as Flask-SQLAlchemy subclasses this base.
    registry = mapper_registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={ShortStrEnum: _stored_enum(10), enum.StrEnum: _stored_enum(20)},
    )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite: enforce foreign keys, write-ahead log, wait for locks instead of failing."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


class UTCDateTime(TypeDecorator):
    """A timezone-aware instant stored as UTC on every engine (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware instants only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def commit_with_retry(session, work: Callable[[], T], attempts: int = 40) -> T:
    """Run `work` and commit. On SQLite, a transaction that read before another writer committed
    cannot write ("database is locked"): roll back and run the whole of `work` again.
    Other engines and other errors are not retried."""
    for attempt in range(attempts):
        try:
            result = work()
            session.commit()
            return result
        except OperationalError as error:
            session.rollback()
            busy = isinstance(error.orig, sqlite3.OperationalError) and "locked" in str(error.orig)
            if not busy or attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
    raise AssertionError("unreachable")


def update_where(session, model, *conditions, **values) -> bool:
    """One conditional `UPDATE model SET values WHERE conditions`; whether a row matched. How a decision that two
    requests may take at once is taken once: the second waits for the first's commit, then matches nothing.
    It bypasses the ORM (and so the audit listener): set the audited values on the object as well."""
    result = session.execute(update(model).where(*conditions).values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def lock_row(session, model, row_id: int) -> None:
    """Hold one row until the transaction ends (SELECT ... FOR UPDATE), so that requests changing several rows
    under it take them one after another instead of deadlocking. SQLite has one writer at a time anyway: there
    it is a plain read."""
    session.execute(select(model.id).where(model.id == row_id).with_for_update())


#: PostgreSQL: unique_violation, deadlock_detected, serialization_failure.
_RACE_SQLSTATES = {"23505", "40P01", "40001"}


def race_kind(error: Exception) -> str:
    """A lost race as the log names it: its classes (IntegrityError (UniqueViolation)), never its message, which
    holds the statement and its parameters (form values, stored answers)."""
    original = getattr(error, "orig", None)
    return f"{type(error).__name__} ({type(original).__name__})" if original is not None else type(error).__name__


def lost_race(error: Exception) -> bool:
    """Whether `error` says another request won a race the database decided (a unique constraint, a version
    counter, a deadlock broken by the server), rather than that something is wrong (a NOT NULL, foreign key or
    check constraint, a broken statement)."""
    if isinstance(error, StaleDataError):
        return True
    if not isinstance(error, (IntegrityError, OperationalError)) or not isinstance(error, DBAPIError):
        return False
    original = error.orig
    if isinstance(original, sqlite3.IntegrityError):
        return "UNIQUE constraint failed" in str(original)
    if isinstance(original, sqlite3.OperationalError):
        return "locked" in str(original)  # another writer held the database for longer than the busy timeout
    return getattr(original, "sqlstate", None) in _RACE_SQLSTATES
