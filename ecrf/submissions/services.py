"""Form keys: a post that creates something is taken once.

Every form whose post creates something (a new adverse event or other list entry, a screening
record, a signature, a flag confirmation, a query, a new account) carries a random key rendered
into the page. The post claims its key first thing in the transaction that does its work; the
key's unique constraint lets only one post of the same rendered form commit. A repeat (double click, back
button, a retry after a timeout) finds the key taken and is shown the first post's result.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select

from ecrf.extensions import db
from ecrf.submissions.models import FormSubmission

#: The name of the hidden form field holding the key.
FIELD = "form_key"
#: How long a key is kept: a repeat of a post this old is not a double click or a retry any more.
KEEP_KEYS = timedelta(days=30)
_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class AlreadySubmitted(Exception):
    """This rendered form was posted before; `result_url` is where that post's result is shown."""

    def __init__(self, result_url: str | None) -> None:
        super().__init__("this form was already submitted")
        self.result_url = result_url


def new_key() -> str:
    """A fresh key for one rendered form."""
    return secrets.token_urlsafe(24)


def claim(key: str | None, user_id: int | None, endpoint: str) -> FormSubmission | None:
    """Claim the key of a posted form, first thing in the post's transaction (flushes). Raises AlreadySubmitted
    if a post of the same form was taken; a concurrent one waits for the other's commit and then fails on the
    key's unique constraint (IntegrityError: roll back and ask `taken`). No key, or not one we render: None."""
    if not key or not _KEY.match(key) or user_id is None:
        return None
    earlier = taken(key)
    if earlier is not None:
        raise AlreadySubmitted(earlier.result_url)
    submission = FormSubmission(key=key, user_id=user_id, endpoint=endpoint[:80])
    db.session.add(submission)
    db.session.flush()
    return submission


def taken(key: str | None) -> FormSubmission | None:
    """The post that took this key, if any."""
    if not key or not _KEY.match(key):
        return None
    return db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))


def forget_old_keys(now: datetime) -> int:
    """Delete the keys of posts older than KEEP_KEYS (bookkeeping, not audited); returns how many."""
    return cast(CursorResult[Any], db.session.execute(delete(FormSubmission).where(FormSubmission.created_at < now - KEEP_KEYS))).rowcount
