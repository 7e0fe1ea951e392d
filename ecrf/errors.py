"""Exceptions shared by services and views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self


class InvalidInput(Exception):
    """User input breaks rules: `problems` pairs a form field (None: the form as a whole) with a message."""

    def __init__(self, problems: Sequence[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems

    @classmethod
    def at(cls, field: str | None, message: str) -> Self:
        """One problem with one field."""
        return cls([(field, message)])
