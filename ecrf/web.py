"""Small helpers shared by the views: run a service for a post, commit it once, and say what happened.

A post runs its service in one transaction and commits. Three things can stop it:
- the service refuses the input (`InvalidInput`): the page is shown again with its messages and the values entered;
- the post repeats one already taken (the same rendered form posted twice: see `ecrf.submissions`): the
  first post's result is shown, nothing is created again;
- another request won a race the database decided (a unique constraint, a version counter, a conditional
  UPDATE): the post is run again where that is safe (`retry_races`, e.g. the next number of a list), or the
  user is told what the other request did (`on_race`, else a general message), with nothing overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final, Literal, TypeVar, overload

from flask import current_app, flash, redirect, request
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import RadioField

from ecrf.db import commit_with_retry, lost_race, race_kind
from ecrf.errors import InvalidInput
from ecrf.extensions import db
from ecrf.submissions.services import FIELD, AlreadySubmitted, claim, new_key, taken

T = TypeVar("T")


class _Failed(Enum):
    """The type of `FAILED` (an enum member, so that `result is FAILED` narrows a result's type)."""

    FAILED = "failed"


#: What `submit` and `act` return when the service refused the input or the post lost its race.
FAILED: Final = _Failed.FAILED
#: Times a post that lost a race it may simply run again is tried.
RACE_ATTEMPTS = 5
#: Times a post that found SQLite's database locked (after its busy timeout) is tried: a request waits so long at most.
SQLITE_BUSY_ATTEMPTS = 3


@dataclass(frozen=True)
class Repeated:
    """The post repeated one already taken; `url` shows that post's result."""

    url: str | None

    def response(self, fallback: str):
        """Redirect to the first post's result, saying that nothing was done twice."""
        flash("This form had already been sent: it was saved once, and is shown here.", "info")
        return redirect(self.url or fallback)


def show_errors(form, error: InvalidInput) -> None:
    """Put a service's messages on the fields they name, or on the form when no field is named."""
    for field, message in error.problems:
        target = getattr(form, field, None) if field else None
        (target.errors if target is not None else form.form_errors).append(message)


def form_key_field() -> Markup:
    """The hidden field that makes a rendered form's post count once (templates: `{{ form_key_field() }}`)."""
    return Markup(f'<input type="hidden" name="{FIELD}" value="{new_key()}">')


#: What the loser of a race is told where the view has nothing more specific to say.
RACE_LOST = "Someone else changed this at the same moment; nothing of yours was saved. Reload the page to see what they did, then try again."


def _run(
    work: Callable[[], T],
    refused: Callable[[InvalidInput], None],
    *,
    once: Callable[[T], str] | None,
    on_race: Callable[[], InvalidInput] | None,
    retry_races: bool,
) -> T | Literal[_Failed.FAILED] | Repeated:
    key = request.form.get(FIELD) if once is not None else None

    def claimed_work() -> T:
        submission = claim(key, getattr(current_user, "id", None), request.endpoint or "")
        result = work()
        if submission is not None:
            submission.result_url = once(result)  # type: ignore[misc]
        return result

    attempts = RACE_ATTEMPTS if retry_races else 1
    for attempt in range(1, attempts + 1):
        try:
            return commit_with_retry(db.session, claimed_work, attempts=SQLITE_BUSY_ATTEMPTS)  # (SQLite: a transaction that lost the lock runs again)
        except AlreadySubmitted as repeat:
            db.session.rollback()
            return Repeated(repeat.result_url)
        except InvalidInput as error:
            db.session.rollback()
            refused(error)
            return FAILED
        except (IntegrityError, StaleDataError, OperationalError) as error:
            db.session.rollback()
            if not lost_race(error):
                raise  # a real error: logged, and the error page
            first = taken(key)
            if first is not None:  # the race was with a repeat of this very post
                return Repeated(first.result_url)
            current_app.logger.info("%s lost a race (attempt %s of %s): %s", request.endpoint, attempt, attempts, race_kind(error))
            if attempt < attempts:
                continue
            refused(on_race() if on_race is not None else InvalidInput.at(None, RACE_LOST))
            return FAILED
    raise AssertionError("unreachable")


@overload
def submit(
    form, work: Callable[[], T], *, once: None = None, on_race: Callable[[], InvalidInput] | None = None, retry_races: bool = False
) -> T | Literal[_Failed.FAILED]: ...  # without `once` a post is never `Repeated`


@overload
def submit(
    form, work: Callable[[], T], *, once: Callable[[T], str] | None, on_race: Callable[[], InvalidInput] | None = None, retry_races: bool = False
) -> T | Literal[_Failed.FAILED] | Repeated: ...


def submit(
    form, work: Callable[[], T], *, once: Callable[[T], str] | None = None, on_race: Callable[[], InvalidInput] | None = None, retry_races: bool = False
) -> T | Literal[_Failed.FAILED] | Repeated:
    """Run a service for a posted form and commit: its result; or FAILED with the service's messages put on the
    form (shown again with the values entered); or `Repeated` for a form posted twice (`once` gives the URL
    of a result, making the post count once)."""
    return _run(work, lambda error: show_errors(form, error), once=once, on_race=on_race, retry_races=retry_races)


@overload
def act(
    work: Callable[[], T], *, once: None = None, on_race: Callable[[], InvalidInput] | None = None, retry_races: bool = False
) -> T | Literal[_Failed.FAILED]: ...  # without `once` a post is never `Repeated`


@overload
def act(
    work: Callable[[], T], *, once: Callable[[T], str] | None, on_race: Callable[[], InvalidInput] | None = None, retry_races: bool = False
) -> T | Literal[_Failed.FAILED] | Repeated: ...


def act(
    work: Callable[[], T], *, once: Callable[[T], str] | None = None, on_race: Callable[[], InvalidInput] | None = None, retry_races: bool = False
) -> T | Literal[_Failed.FAILED] | Repeated:
    """`submit` for a button (a post with no fields to show again): the service's messages are flashed."""
    return _run(work, lambda error: flash(" ".join(message for _, message in error.problems), "danger"), once=once, on_race=on_race, retry_races=retry_races)


#: Kinds of WTForms' own field classes used without our `Named` mixin (forms/subjects.py's radio buttons).
_STOCK_KINDS: tuple[tuple[type, str], ...] = ((RadioField, "radio"),)


def input_kind(field) -> str:
    """How a page shows a bound field: "radio", "checkbox", "date", "time", "datetime", "number", "textarea" or
    "text" (anything else: the field's own widget). Templates call it (`input_kind(f)`)."""
    kind = getattr(field, "input_kind", None)
    if kind is not None:
        return kind
    return next((kind for cls, kind in _STOCK_KINDS if isinstance(field, cls)), "text")
