"""The API's routes, gathered on one blueprint: reading, writing and the documentation page."""

from __future__ import annotations

from ecrf.api import docs, oversight, read, screening, subjects  # noqa: F401  (each module adds its routes to the blueprint)
from ecrf.api.blueprint import bp

__all__ = ["bp"]
