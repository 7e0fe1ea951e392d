"""What was entered in an instrument form, as plain data: the input of `ecrf.crfs.services.save_entry`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecrf.auth.models import User


@dataclass(frozen=True)
class EntryInput:
    """An entry's values as entered; the browser, the demo and the confirmation of a safety flag all save
    through `save_entry` with one of these."""

    #: Entered values by field (instants timezone-aware); a field not given is left as it is.
    values: dict[str, object]
    #: Fields without a value and why: {field: {"code": ..., "reason": ...}}.
    missing: dict[str, dict[str, str]] = field(default_factory=dict)
    confirmed_warnings: list[str] = field(default_factory=list)
    #: The entry's version when the form was opened; None: it was opened before anyone had saved it.
    version_seen: int | None = None
    #: The reason for changing a complete entry.
    reason: str = ""
    complete: bool = False
    #: Who saves it (None: the system, e.g. demo data or an import).
    by: User | None = None
