"""A lease in the database: only its holder runs scheduled jobs, so a second scheduler does nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.exc import IntegrityError

from ecrf.extensions import db
from ecrf.notify.models import SchedulerLease


def acquire(name: str, holder: str, ttl: timedelta, now: datetime) -> bool:
    """Take or renew the lease `name` for `holder` until now + ttl; False if someone else holds it. Commits."""
    taken = cast(
        CursorResult[Any],
        db.session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == name, or_(SchedulerLease.holder == holder, SchedulerLease.expires_at < now))
            .values(holder=holder, expires_at=now + ttl)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if taken:
        db.session.commit()
        return True
    try:
        db.session.add(SchedulerLease(name=name, holder=holder, expires_at=now + ttl))
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        return False


def release(name: str, holder: str, now: datetime) -> None:
    """Give the lease up (it expires now). Commits."""
    db.session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
