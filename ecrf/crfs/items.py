"""The items of an instrument, declared once: what the typed table, the WTForms form and every reader of the
instrument (exports, data dictionary, ODM metadata, API, import) take an item's name, label, type, unit, range,
code list, missing-data codes and derivation from.

Each module of `ecrf/instruments/` declares its items in paper order with `items(Item(...), ...)`; its table
gets one column per item (`CrfData.__items__`), the form in `forms/` one field per entered item
(`forms.fields.field_for`), and `ecrf.crfs.registry.instrument(code).items` gives them to everyone else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, Date, Integer, Numeric, String, Text
from sqlalchemy.types import TypeEngine

from ecrf.crfs.models import MissingCode
from ecrf.db import UTCDateTime


class Kind(StrEnum):
    """What an item holds; the column type and the form field follow from it."""

    INTEGER = "integer"  #: a whole number in [low, high]
    DECIMAL = "decimal"  #: a decimal in [low, high] with at most `places` decimals
    CHOICE = "choice"  #: one text code of `codes`
    GRADED = "graded"  #: one whole-number grade of `codes` (shown "n — text")
    YES_NO = "yes_no"  #: yes or no
    TICK = "tick"  #: one box of a "tick all that apply" list: ticked or not
    DATE = "date"  #: a full date
    DATETIME = "datetime"  #: an instant (entered in the site's local time, stored in UTC)
    PARTIAL_DATE = "partial_date"  #: a date whose day, or day and month, may be unknown: YYYY-MM-DD, YYYY-MM or YYYY
    TEXT = "text"  #: free text of at most `max_length` characters


#: The code list of every yes/no item.
YES_NO_CODES: tuple[tuple[object, str], ...] = ((True, "Yes"), (False, "No"))


@dataclass(frozen=True)
class Item:
    """One item of an instrument: a column of its table and, unless derived, a field of its form."""

    name: str
    label: str
    kind: Kind
    unit: str = ""
    #: Allowed range (integer: ints; decimal: decimal strings, as the form shows them).
    low: int | str | None = None
    high: int | str | None = None
    #: Decimals allowed (decimal items).
    places: int | None = None
    #: The code list: (code, label) pairs, in the order shown.
    codes: Sequence[tuple[object, str]] = ()
    #: The missing-data codes the item accepts; None: every code; (): it must always be answered.
    missing: tuple[MissingCode, ...] | None = None
    #: Must be answered to complete the form (unless a cross-field rule of the form says otherwise).
    required: bool = True
    #: Help text shown with the field.
    description: str = ""
    #: Text items: the longest text accepted; `long`: entered in a text area.
    max_length: int | None = None
    long: bool = False
    #: Not entered: computed when the entry is saved, from these items (and the protocol where that is said).
    derived_from: tuple[str, ...] | None = None
    #: Column size where it is not the one the kind implies (a choice's longest code; a decimal's digits).
    length: int | None = None
    precision: int | None = None

    def __post_init__(self) -> None:
        if self.kind is Kind.YES_NO and not self.codes:
            object.__setattr__(self, "codes", YES_NO_CODES)

    @property
    def derived(self) -> bool:
        return self.derived_from is not None

    @property
    def accepted_missing(self) -> tuple[MissingCode, ...]:
        """The missing-data codes this item accepts."""
        return tuple(MissingCode) if self.missing is None else self.missing

    def code_label(self, value: object) -> str | None:
        """The label of a code of the item's code list (None when it has none such)."""
        return next((label for code, label in self.codes if code == value), None)

    def column_type(self) -> TypeEngine:
        """The column type of the item in its instrument's table."""
        kind = self.kind
        if kind in (Kind.INTEGER, Kind.GRADED):
            return Integer()
        if kind in (Kind.YES_NO, Kind.TICK):
            return Boolean()
        if kind is Kind.DECIMAL:
            places = self.places or 0
            if self.precision is None:
                digits = max(len(str(abs(int(Decimal(str(bound)))))) for bound in (self.low, self.high) if bound is not None)
                return Numeric(digits + places, places)
            return Numeric(self.precision, places)
        if kind is Kind.DATE:
            return Date()
        if kind is Kind.DATETIME:
            return UTCDateTime()
        if kind is Kind.PARTIAL_DATE:
            return String(10)
        if kind is Kind.CHOICE:
            return String(self.length or max(len(str(code)) for code, _ in self.codes))
        if kind is Kind.TEXT:
            return Text() if self.long and self.length is None else String(self.length or self.max_length or 200)
        raise ValueError(f"{self.name}: no column type for kind {kind}")


class Items:
    """An instrument's items in paper order, by name."""

    def __init__(self, *declared: Item) -> None:
        self._items: dict[str, Item] = {}
        for item in declared:
            if item.name in self._items:
                raise ValueError(f"item {item.name} declared twice")
            self._items[item.name] = item
        for item in declared:
            unknown = [name for name in item.derived_from or () if name not in self._items]
            if unknown:
                raise ValueError(f"item {item.name} is derived from unknown items {unknown}")

    def __getitem__(self, name: str) -> Item:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Item]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __add__(self, other: Items) -> Items:
        return Items(*self, *other)

    @property
    def entered(self) -> list[Item]:
        """The items a user enters (not derived), in paper order."""
        return [item for item in self if not item.derived]

    def entered_names(self) -> list[str]:
        return [item.name for item in self.entered]

    def label(self, name: str) -> str:
        """An item's label."""
        return self._items[name].label

    def describe(self) -> list[dict[str, object]]:
        """The items as plain data (what the data dictionary, ODM metadata and the API read)."""
        return [
            {
                "name": item.name,
                "label": item.label,
                "kind": item.kind.value,
                "unit": item.unit,
                "low": item.low,
                "high": item.high,
                "places": item.places,
                "codes": [{"code": code, "label": label} for code, label in item.codes],
                "missing": [code.value for code in item.accepted_missing],
                "required": item.required,
                "derived_from": list(item.derived_from) if item.derived_from is not None else None,
                "column_type": str(item.column_type()),
            }
            for item in self
        ]


def items(*declared: Item) -> Items:
    """An instrument's items, in paper order."""
    return Items(*declared)
