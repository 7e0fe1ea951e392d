"""The audit trail's writer: one session listener for every data change, `record_event` for the rest.

Every insert, update and delete of a mapped object (clinical data, statuses, signatures,
queries, users, memberships, protocol set-up ...) becomes one row per changed field,
with the acting user, the UTC time and, where the change needs one, the reason.
Audit rows themselves can only be inserted: the ORM, a Core statement and (by the
migration's triggers) the database refuse to update or delete them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

from sqlalchemy import Table, event, insert, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapper, Session, scoped_session

from ecrf.audit.models import AuditEvent
from ecrf.clock import now_utc
from ecrf.crfs.models import CrfEntry
from ecrf.db import Base
from ecrf.queries.models import DataQuery
from ecrf.subjects.models import Subject

#: Bookkeeping columns not worth a row of their own (the event's time and user say the same).
SKIPPED_FIELDS = {"version", "updated_at", "updated_by_id", "created_at", "created_by_id"}
#: Columns whose values never enter the trail; a change is recorded without them.
SECRET_FIELDS = {("users", "password_hash"), ("api_tokens", "token_sha256")}
#: Bookkeeping, not data: not audited (the scheduler's; sessions, reset links and form keys, whose
#: security events — log-in, log-out, reset requested and used — are written as events instead; and export jobs, whose
#: export, download and deletion of the file are events).
NOT_AUDITED = {
    "audit_events",
    "nightly_runs",
    "outbox_emails",
    "scheduler_leases",
    "apscheduler_jobs",
    "user_sessions",
    "password_resets",
    "form_submissions",
    "export_jobs",
    "api_idempotent_requests",
}
#: Rows the system creates in bulk (flags); their changes (a decision, a resolution) are audited, their creation is not.
CHANGES_ONLY = {"flags"}
#: Clinical tables (and every instrument's `*_data` table): rows are corrected, never deleted, so that each
#: id's audit history belongs to one row for good.
NEVER_DELETED = {
    "subjects",
    "visits",
    "crf_entries",
    "signatures",
    "data_queries",
    "query_messages",
    "screening_records",
    "randomization_slots",
    "protocol_deviations",
    "flags",
}
#: A session, or Flask-SQLAlchemy's `db.session` (a scoped session proxying one).
AnySession = Session | scoped_session[Any]
#: The audit table, as a Table (the model's `__table__` is typed as any FromClause).
_AUDIT_TABLE = cast(Table, AuditEvent.__table__)
_WRITE_TO_AUDIT = re.compile(r"^\s*(UPDATE|DELETE\s+FROM|TRUNCATE(\s+TABLE)?)\s+\"?audit_events\b", re.IGNORECASE)


class AuditImmutable(Exception):
    """An attempt to change or remove an audit row."""


class ClinicalRowDeleted(Exception):
    """An attempt to delete a clinical row (subjects, visits, entries and their data, signatures, queries ...)."""


def set_actor(session: AnySession, user, via: str | None = None) -> None:
    """The user whose changes the session records from now on (None: the system), and the way in where it is not
    the browser or a command ("API token <name> (<first characters>…)")."""
    session.info["audit_actor"] = (user.id, user.email) if user is not None else None
    session.info["audit_via"] = via


@contextmanager
def acting(session: AnySession, user, via: str | None = None) -> Iterator[None]:
    """Within the block the session records its changes as `user`'s, made `via` (as `set_actor`); who was acting
    before is back afterwards (what the block changed is flushed first, so it is recorded as the block's)."""
    before = session.info.get("audit_actor"), session.info.get("audit_via")
    set_actor(session, user, via)
    try:
        yield
        session.flush()
    finally:
        session.info["audit_actor"], session.info["audit_via"] = before


def set_reason(session: AnySession, reason: str | None) -> None:
    """The reason recorded with the changes of the current transaction (a reason for change, an unlock ...)."""
    session.info["audit_reason"] = reason


@contextmanager
def reason_of(session: AnySession, reason: str | None) -> Iterator[None]:
    """The changes made within the block are recorded with `reason` (flushed at its end); the reason before is back
    afterwards, so that a later change of the same transaction (the demo's, an import's) does not take it."""
    before = session.info.get("audit_reason")
    set_reason(session, reason)
    try:
        yield
        session.flush()
    finally:
        session.info["audit_reason"] = before


def record_event(
    session: AnySession,
    action: str,
    *,
    object_type: str,
    object_id=None,
    subject_id: int | None = None,
    field: str | None = None,
    old=None,
    new=None,
    reason: str | None = None,
    user=None,
) -> None:
    """An audit row for something that is not a data change: a login, a failed login, an export ..."""
    actor = (user.id, user.email) if user is not None else session.info.get("audit_actor")
    row = _row(actor, action, object_type, object_id, subject_id, field, old, new, reason, session.info.get("audit_via"))
    session.execute(insert(_AUDIT_TABLE), [row])


@dataclass(frozen=True)
class Recorded:
    """A change recorded elsewhere, as an import brings it in: who (a user here, or only as the source named them),
    when (UTC, as the source recorded it), what and why."""

    at: datetime
    user_id: int | None
    #: The user's email here, or how the source named someone who is no user here ("system" for none).
    user_name: str
    object_type: str
    object_id: object
    subject_id: int | None
    field: str | None
    old: object
    new: object
    reason: str | None


def record_history(session: AnySession, action: str, changes: list[Recorded]) -> None:
    """Audit rows for changes made before the data came here (an import's AuditRecords): each with its own user and
    time, the `action` given, and the session's way in (`via`)."""
    if not changes:
        return
    via = session.info.get("audit_via")
    rows = []
    for change in changes:
        row = _row(
            (change.user_id, change.user_name),
            action,
            change.object_type,
            change.object_id,
            change.subject_id,
            change.field,
            change.old,
            change.new,
            change.reason,
            via,
        )
        rows.append(row | {"at": change.at})
    session.execute(insert(_AUDIT_TABLE), rows)


def _row(actor, action, object_type, object_id, subject_id, field, old, new, reason, via=None) -> dict:
    user_id, email = actor if actor else (None, "system")
    return {
        "at": now_utc(),
        "user_id": user_id,
        "user_email": email,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "subject_id": subject_id,
        "field": field,
        "old_value": _text(old),
        "new_value": _text(new),
        "reason": reason,
        "via": via,
    }


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, Decimal):
        return str(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _subject_id(session: Session, obj) -> int | None:
    if isinstance(obj, Subject):
        return obj.id
    if getattr(obj, "subject_id", None) is not None:
        return obj.subject_id
    with session.no_autoflush:
        if getattr(obj, "entry_id", None) is not None:
            entry = session.get(CrfEntry, obj.entry_id)
            return entry.subject_id if entry else None
        if getattr(obj, "query_id", None) is not None:
            query = session.get(DataQuery, obj.query_id)
            return query.subject_id if query else None
    return None


def _object_id(obj) -> str:
    mapper = inspect(obj).mapper
    return ",".join(str(value) for value in mapper.primary_key_from_instance(obj))


def _changes(session: Session) -> list[dict]:
    actor, reason, via = session.info.get("audit_actor"), session.info.get("audit_reason"), session.info.get("audit_via")
    rows = []
    for obj in session.new:
        if obj.__table__.name in NOT_AUDITED | CHANGES_ONLY:
            continue
        table, values = obj.__table__.name, []
        for column in inspect(obj).mapper.column_attrs:
            key = column.key
            if key in SKIPPED_FIELDS or getattr(obj, key) is None:
                continue
            values.append((key, None, "(set)" if (table, key) in SECRET_FIELDS else getattr(obj, key)))
        subject = _subject_id(session, obj)
        for key, old, new in values or [(None, None, None)]:
            rows.append(_row(actor, "create", table, _object_id(obj), subject, key, old, new, reason, via))
    for obj in session.dirty:
        if obj.__table__.name in NOT_AUDITED or not session.is_modified(obj, include_collections=False):
            continue
        state, table = inspect(obj), obj.__table__.name
        for column in state.mapper.column_attrs:
            key = column.key
            history = state.attrs[key].history
            if key in SKIPPED_FIELDS or not history.has_changes():
                continue
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
            if (table, key) in SECRET_FIELDS:
                old, new = "(hidden)", "(changed)"
            rows.append(_row(actor, "update", table, _object_id(obj), _subject_id(session, obj), key, old, new, reason, via))
    for obj in session.deleted:
        if obj.__table__.name in NOT_AUDITED:
            continue
        last = {c.key: getattr(obj, c.key) for c in inspect(obj).mapper.column_attrs if (obj.__table__.name, c.key) not in SECRET_FIELDS}
        rows.append(_row(actor, "delete", obj.__table__.name, _object_id(obj), _subject_id(session, obj), None, last, None, reason, via))
    return rows


def _before_flush(session: Session, flush_context, instances) -> None:
    if any(isinstance(obj, AuditEvent) for obj in list(session.dirty) + list(session.deleted)):
        raise AuditImmutable("audit rows are append-only: they can be neither changed nor deleted")
    clinical = sorted({obj.__table__.name for obj in session.deleted if _is_clinical(obj.__table__.name)})
    if clinical:
        raise ClinicalRowDeleted(f"clinical rows are never deleted ({', '.join(clinical)}); their history would lose its row")


def _is_clinical(table: str) -> bool:
    return table in NEVER_DELETED or table.endswith("_data")


def _after_flush(session: Session, flush_context) -> None:
    rows = _changes(session)
    if rows:
        session.connection().execute(insert(_AUDIT_TABLE), rows)


def _end_of_transaction(session: Session, *args) -> None:
    session.info.pop("audit_reason", None)


def _guard_statements(conn, cursor, statement, parameters, context, executemany) -> None:
    if _WRITE_TO_AUDIT.match(statement):
        raise AuditImmutable("audit rows are append-only: they can be neither changed nor deleted")


def _keep_old_values(mapper: Mapper, cls) -> None:
    """Make every column load its old value before a new one is set, so updates record both."""
    for column in mapper.column_attrs:
        event.listen(getattr(cls, column.key), "set", lambda target, value, old, initiator: value, active_history=True, retval=True)


_installed = False


def install() -> None:
    """Register the listeners (once per process)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "after_commit", _end_of_transaction)
    event.listen(Session, "after_rollback", _end_of_transaction)
    event.listen(Engine, "before_cursor_execute", _guard_statements)
    event.listen(Base, "mapper_configured", _keep_old_values, propagate=True)
    _installed = True
