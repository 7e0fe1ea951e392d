"""Exceptions shared by services and views."""
from __future__ import annotations


class InvalidInput(Exception):
    """User input breaks a rule. `field` names the form field (None: the form as a whole)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
