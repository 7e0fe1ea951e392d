"""The API's routes, gathered on one blueprint: reading, writing and the documentation page; its rate limits."""

from __future__ import annotations

from ecrf.api import docs, entries, limits, oversight, read, screening, subjects, threads  # noqa: F401  (each module adds its routes to the blueprint; limits: its limits)
from ecrf.api.blueprint import bp

__all__ = ["bp"]
