"""The instrument registry: protocol code -> items, typed table, computations.

Each module in `ecrf/instruments/` declares its items (`ecrf.crfs.items`), its typed table(s) made from
them, and one or more `Instrument` objects in `INSTRUMENTS`; this registry collects them from every
module of that package. `instrument(code).items` is the machine-readable description of an instrument
that exports, the data dictionary, ODM metadata and the API read. Every code of the protocol catalogue
(`ecrf/protocols/instruments.py`) must be registered (a test holds it to that).

The WTForms form of each instrument lives in `forms/` (which this package never imports): `forms.registry`
attaches it with `attach_form` when it is imported (the views import it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ecrf.crfs.context import FormContext
from ecrf.crfs.items import Items
from ecrf.crfs.models import CrfData
from ecrf.protocols.instruments import INSTRUMENTS as CATALOGUE

#: code -> form class, filled by `forms.registry`.
_FORMS: dict[str, Any] = {}


class NoForm(LookupError):
    """No form is attached to an instrument (`forms.registry` was not imported)."""


@dataclass(frozen=True)
class Instrument:
    """One case report form."""

    code: str
    model: type[CrfData]
    #: Several entries per visit (adverse events, endpoint events).
    repeating: bool = False
    #: Fills the computed columns of a data row from its entered values.
    compute: Callable[[Any, FormContext], None] | None = None
    #: (label, value) pairs of computed results to show after saving.
    results: Callable[[Any], list[tuple[str, str]]] = field(default=lambda data: [])
    #: One line describing an entry of a repeating instrument in lists.
    describe: Callable[[Any], str] = field(default=lambda data: "")

    @property
    def label(self) -> str:
        return CATALOGUE[self.code]

    @property
    def items(self) -> Items:
        """The instrument's items in paper order (entered and derived), as declared with its table."""
        return self.model.__items__

    @property
    def form(self) -> Any:
        """The WTForms form class (attached by `forms.registry`)."""
        try:
            return _FORMS[self.code]
        except KeyError:
            raise NoForm(f"no form attached to instrument {self.code}; import forms.registry") from None


def attach_form(code: str, form_class: Any) -> None:
    """Attach the WTForms form of a registered instrument (called by `forms.registry`)."""
    instrument(code)
    _FORMS[code] = form_class


@cache
def registry() -> dict[str, Instrument]:
    """Every registered instrument by code."""
    import ecrf.instruments as package

    found: dict[str, Instrument] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for instrument in module.INSTRUMENTS:
            if instrument.code in found:
                raise RuntimeError(f"instrument {instrument.code} registered twice")
            found[instrument.code] = instrument
    return found


def instrument(code: str) -> Instrument:
    """The instrument with this code (KeyError if none)."""
    return registry()[code]
