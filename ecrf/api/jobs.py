"""The API's upkeep, run by the scheduler (`ecrf.scheduler`): stored answers to repeated writes are kept a day.

An answer kept for an Idempotency-Key lets a client that is unsure whether its write went through send it again
safely. A client retries within minutes or hours; after `IDEMPOTENCY_RETENTION` the answer is no longer replayed
(the key counts as new: `ecrf.api.writing`) and the hourly purge deletes it, so the table does not grow forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete

from ecrf.api.models import IdempotentRequest
from ecrf.clock import now_utc
from ecrf.extensions import db

#: How long the answer to a write with an Idempotency-Key is kept and replayed.
IDEMPOTENCY_RETENTION = timedelta(hours=24)


def kept_since(at: datetime | None = None) -> datetime:
    """The oldest instant a stored answer may have been given at and still be replayed at `at` (default: now)."""
    return (at or now_utc()) - IDEMPOTENCY_RETENTION


def purge_idempotent_answers(at: datetime | None = None) -> int:
    """Delete the stored answers older than the retention (at `at`, default now) and commit; returns how many."""
    deleted = cast(CursorResult[Any], db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at < kept_since(at)))).rowcount
    db.session.commit()
    return deleted
