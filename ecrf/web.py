"""Small helpers shared by the views."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import flash

from ecrf.errors import InvalidInput
from ecrf.extensions import db
from forms.fields import show_errors

T = TypeVar("T")
FAILED = object()


def submit(form, work: Callable[[], T]) -> T | object:
    """Run a service for a posted form: commit and return its result, or roll back, put its messages
    on the form and return FAILED (the page is shown again with the values entered)."""
    try:
        result = work()
    except InvalidInput as error:
        db.session.rollback()
        show_errors(form, error)
        return FAILED
    db.session.commit()
    return result


def act(work: Callable[[], T]) -> T | object:
    """Run a service for a button (a post with no fields to show again): commit and return its
    result, or roll back, flash the service's message and return FAILED."""
    try:
        result = work()
    except InvalidInput as error:
        db.session.rollback()
        flash(" ".join(message for _, message in error.problems), "danger")
        return FAILED
    db.session.commit()
    return result
