"""The instrument registry: protocol code -> WTForms form, typed table, computations.

Each module in `ecrf/instruments/` defines its typed table(s) and one or more
`Instrument` objects in `INSTRUMENTS`; this registry collects them from every
module of that package. Every code of the protocol catalogue
(`ecrf/protocols/instruments.py`) must be registered (a test holds it to that).
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import Callable

from ecrf.crfs.models import CrfData
from ecrf.protocols.instruments import INSTRUMENTS as CATALOGUE
from forms.base import CrfForm, FormContext


@dataclass(frozen=True)
class Instrument:
    """One case report form."""

    code: str
    form: type[CrfForm]
    model: type[CrfData]
    #: Several entries per visit (adverse events, endpoint events).
    repeating: bool = False
    #: Fills the computed columns of a data row from its entered values.
    compute: Callable[[CrfData, FormContext], None] | None = None
    #: (label, value) pairs of computed results to show after saving.
    results: Callable[[CrfData], list[tuple[str, str]]] = field(default=lambda data: [])
    #: One line describing an entry of a repeating instrument in lists.
    describe: Callable[[CrfData], str] = field(default=lambda data: "")

    @property
    def label(self) -> str:
        return CATALOGUE[self.code]


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
