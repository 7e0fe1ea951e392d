"""A form post that created something, by the key rendered into the form."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ecrf.clock import now_utc
from ecrf.db import UTCDateTime
from ecrf.extensions import Model


class FormSubmission(Model):
    """One rendered form, posted once: a repeat of the same post (double click, back button, a retry after a
    timeout) finds its key here and is shown the first post's result instead of creating anything again."""

    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The random key rendered into the form; unique, so two concurrent posts cannot both claim it.
    key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The view that took the post.
    endpoint: Mapped[str] = mapped_column(String(80))
    #: Where the first post's result is shown (the page it redirected to).
    result_url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now_utc)
