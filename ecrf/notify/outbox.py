"""The outbox: emails queued once per recipient, kind and local date, sent with retries, never twice.

Sending is a job, not a request: it commits its own small transactions, so that a claim
on an email is visible to a second process before the email goes out.
"""

from __future__ import annotations

import smtplib
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, select, update
from sqlalchemy.exc import IntegrityError

from ecrf.auth.models import User
from ecrf.extensions import db
from ecrf.notify.models import OutboxEmail, OutboxStatus

#: Waits before each new try after a temporary failure (SMTP down, 4xx); after the last, the email is failed.
BACKOFF = [timedelta(minutes=m) for m in (1, 5, 15, 60, 180)]
#: How long a sender holds an email it is sending (another sender skips it meanwhile).
CLAIM = timedelta(minutes=10)


def outbox_key(kind: str, user: User, local_date: date) -> str:
    return f"{kind}:{user.id}:{local_date.isoformat()}"


def queue(kind: str, user: User, local_date: date, subject: str, text: str, html: str, now: datetime) -> OutboxEmail | None:
    """Queue an email unless one of this kind already exists for the user and date (then None)."""
    return queue_keyed(outbox_key(kind, user, local_date), kind, user, local_date, subject, text, html, now)


def queue_keyed(key: str, kind: str, user: User, local_date: date, subject: str, text: str, html: str, now: datetime) -> OutboxEmail | None:
    """Queue an email under an explicit unique `key` (at most 120 characters; `kind` at most 20) unless one
    with that key exists (then None): for emails that are not one per day, such as a lock notice or a reset link."""
    if db.session.scalar(select(OutboxEmail.id).where(OutboxEmail.key == key)) is not None:
        return None
    email = OutboxEmail(
        key=key,
        kind=kind,
        user_id=user.id,
        recipient=user.email,
        local_date=local_date,
        subject=subject,
        text_body=text,
        html_body=html,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(email)
    except IntegrityError:  # queued by someone else in between
        return None
    return email


class TemporaryFailure(Exception):
    """The SMTP server is unreachable or answered 4xx: try again later."""


def _deliver(email: OutboxEmail) -> None:
    config = current_app.config
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = config["MAIL_DEFAULT_SENDER"], email.recipient, email.subject
    message.set_content(email.text_body)
    message.add_alternative(email.html_body, subtype="html")
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["ECRF_SMTP_TIMEOUT"]) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPResponseException as error:
        if 400 <= error.smtp_code < 500:
            raise TemporaryFailure(f"{error.smtp_code} {error.smtp_error!r}") from error
        raise
    except (OSError, smtplib.SMTPServerDisconnected) as error:
        raise TemporaryFailure(str(error) or type(error).__name__) from error


def send_due(now: datetime) -> tuple[int, int]:
    """Send every queued email whose time has come; returns (sent, failed for good)."""
    sent = failed = 0
    due = db.session.scalars(
        select(OutboxEmail.id).where(OutboxEmail.status == OutboxStatus.QUEUED, OutboxEmail.next_attempt_at <= now).order_by(OutboxEmail.id)
    ).all()
    for email_id in due:
        claimed = cast(
            CursorResult[Any],
            db.session.execute(
                update(OutboxEmail)
                .where(OutboxEmail.id == email_id, OutboxEmail.status == OutboxStatus.QUEUED, OutboxEmail.next_attempt_at <= now)
                .values(next_attempt_at=now + CLAIM)
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        db.session.commit()
        if not claimed:
            continue  # another sender has it
        email = db.session.get(OutboxEmail, email_id)
        assert email is not None  # claimed just now, and outbox rows are never deleted
        email.attempts += 1
        try:
            _deliver(email)
        except TemporaryFailure as error:
            email.last_error = f"attempt {email.attempts}: {error}"
            if email.attempts > len(BACKOFF):
                email.status, failed = OutboxStatus.FAILED, failed + 1
            else:
                email.next_attempt_at = now + BACKOFF[email.attempts - 1]
        except (smtplib.SMTPException, ValueError) as error:
            email.status, email.last_error, failed = OutboxStatus.FAILED, f"attempt {email.attempts}: {error}", failed + 1
        else:
            email.status, email.sent_at, email.last_error, sent = OutboxStatus.SENT, now, None, sent + 1
        db.session.commit()
    return sent, failed


def failed_emails(limit: int = 200) -> list[OutboxEmail]:
    """Emails that could not be sent, newest first (for the admin)."""
    return list(db.session.scalars(select(OutboxEmail).where(OutboxEmail.status == OutboxStatus.FAILED).order_by(OutboxEmail.id.desc()).limit(limit)))
