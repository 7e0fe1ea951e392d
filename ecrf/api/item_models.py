"""The API's models of each instrument's entries, made from its item declarations (`instrument(code).items`): the
OpenAPI document shows each instrument's items with their types, units, ranges, code lists and missing-data codes,
and the same models read the bodies. Nothing here lists an item: a new item of an instrument is in the API at once.

Per instrument (instruments sharing a table, such as `abi` and `abi_post`, share their models):
- `<Name>Values`: the entered items, each typed by its kind and null for "no value";
- `<Name>Missing`: for the items that may be left missing, {code, reason};
- `<Name>Computed`: the computed items (read only);
- `<Name>Entry` (a read entry), `<Code>EntryCreate` (a new one), `<Name>EntryUpdate` (a change).

The models check JSON types only (an integer item takes a JSON integer, a date an ISO date text ...). Ranges, code
lists, lengths, cross-field rules and plausibility warnings are the web form's (`CrfForm.from_plain`): the document
states them (minimum, maximum, enum, maxLength), and the form, the same as the page's, enforces them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, RootModel, create_model

from ecrf.api.paging import Page
from ecrf.api.scope import in_years
from ecrf.crfs.items import Item, Kind
from ecrf.crfs.models import CrfData, EntryStatus, MissingCode
from ecrf.crfs.registry import Instrument, registry
from ecrf.partial_dates import FORMATS as PARTIAL_DATE_FORMATS

#: A decimal item: read from a JSON number or a decimal string, written as a JSON number.
DecimalValue = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
#: The Python type each kind of item is read as, and what a client sends for it (in messages).
KIND_TYPES: dict[Kind, tuple[Any, str]] = {
    Kind.INTEGER: (int, "a JSON integer"),
    Kind.DECIMAL: (DecimalValue, "a JSON number (or a decimal as a string)"),
    Kind.CHOICE: (str, "a string code"),
    Kind.GRADED: (int, "an integer code"),
    Kind.YES_NO: (bool, "true or false"),
    Kind.TICK: (bool, "true (ticked) or false"),
    Kind.DATE: (date, "a date as a string YYYY-MM-DD"),
    Kind.DATETIME: (
        Annotated[datetime, AfterValidator(in_years)],
        "a date and time as an ISO 8601 string (with an offset; without one, the site's local time)",
    ),
    Kind.PARTIAL_DATE: (str, f"a string {PARTIAL_DATE_FORMATS}"),
    Kind.TEXT: (str, "a string"),
}


class MissingValue(BaseModel):
    """Why an item has no value: a missing-data code and its reason (no names)."""

    model_config = ConfigDict(extra="forbid")

    code: MissingCode
    reason: str = Field(default="", description="why the value is missing (required with a code; at most 200 characters; no names)")


def sends(item: Item) -> str:
    """What a client sends for an item, in words (its JSON type, and its codes where it has a code list)."""
    if item.kind in (Kind.CHOICE, Kind.GRADED):
        return "one of " + ", ".join(f"{_json(code)} ({label})" for code, label in item.codes)
    return KIND_TYPES[item.kind][1]


def _json(code: object) -> str:
    return f'"{code}"' if isinstance(code, str) else str(code).lower() if isinstance(code, bool) else str(code)


def _documented(item: Item) -> dict[str, Any]:
    """What the document says of an item beyond its type: range, code list, length, unit."""
    extra: dict[str, Any] = {}
    if item.kind in (Kind.INTEGER, Kind.DECIMAL):
        bound = int if item.kind is Kind.INTEGER else float
        extra |= {key: bound(Decimal(str(value))) for key, value in (("minimum", item.low), ("maximum", item.high)) if value is not None}
    if item.kind in (Kind.CHOICE, Kind.GRADED):
        extra["enum"] = [code for code, _ in item.codes] + [None]
    if item.kind is Kind.TEXT and item.max_length:
        extra["maxLength"] = item.max_length
    if item.unit:
        extra["x-unit"] = item.unit
    return extra


def _description(item: Item) -> str:
    parts = [item.label + (f" ({item.unit})" if item.unit and item.unit not in item.label else "") + "."]
    if item.kind in (Kind.CHOICE, Kind.GRADED):
        parts.append("Codes: " + ", ".join(f"{_json(code)} = {label}" for code, label in item.codes) + ".")
    if item.places is not None and item.kind is Kind.DECIMAL:
        parts.append(f"At most {item.places} decimals.")
    if item.derived:
        parts.append(f"Computed from {', '.join(item.derived_from or ())}; not writable.")
    else:
        parts.append("Needed to complete the form." if item.required else "Optional.")
        codes = item.accepted_missing
        parts.append(f"May be missing: {', '.join(code.value for code in codes)}." if codes else "Never missing: it must be answered.")
    if item.description:
        parts.append(item.description)
    return " ".join(parts)


def _field_name(name: str) -> tuple[str, dict[str, Any]]:
    """The model's attribute for an item (an item named like a pydantic attribute gets an alias)."""
    if hasattr(BaseModel, name) or name.startswith("model_"):
        return f"{name}_", {"alias": name}
    return name, {}


def _items_model(name: str, doc: str, items: list[Item], *, read_only: bool = False) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for item in items:
        attribute, alias = _field_name(item.name)
        extra = _documented(item) | ({"readOnly": True} if read_only else {})
        fields[attribute] = (
            KIND_TYPES[item.kind][0] | None,
            Field(default=None, title=item.label, description=_description(item), json_schema_extra=extra, **alias),
        )
    return create_model(name, __config__=ConfigDict(extra="forbid", populate_by_name=True), __doc__=doc, **fields)


def model_name(instrument: Instrument) -> str:
    """The name of an instrument's models: its table's class without "Data" (AbiData -> Abi)."""
    return instrument.model.__name__.removesuffix("Data")


def _camel(code: str) -> str:
    return "".join(part.capitalize() for part in code.split("_"))


@cache
def values_model(model: type[CrfData]) -> type[BaseModel]:
    """The entered items of a table's instrument(s), typed; null is no value."""
    instrument = _instruments_of(model)[0]
    return _items_model(f"{model_name(instrument)}Values", f"The entered items of {instrument.label}; null: no value.", instrument.items.entered)


@cache
def computed_model(model: type[CrfData]) -> type[BaseModel]:
    """The computed items of a table's instrument(s): filled when the entry is saved, never written."""
    instrument = _instruments_of(model)[0]
    derived = [item for item in instrument.items if item.derived]
    return _items_model(f"{model_name(instrument)}Computed", f"Computed from the entered items of {instrument.label}; read only.", derived, read_only=True)


@cache
def missing_model(model: type[CrfData]) -> type[BaseModel]:
    """Missing-data codes by item, for the items that may be left missing."""
    instrument = _instruments_of(model)[0]
    fields: dict[str, Any] = {}
    for item in instrument.items.entered:
        if item.accepted_missing:
            attribute, alias = _field_name(item.name)
            accepted = ", ".join(code.value for code in item.accepted_missing)
            fields[attribute] = (MissingValue | None, Field(default=None, description=f"{item.label}: accepts {accepted}; null: no code.", **alias))
    doc = f"Items of {instrument.label} without a value and why: {{item: {{code, reason}}}}."
    return create_model(f"{model_name(instrument)}Missing", __config__=ConfigDict(extra="forbid", populate_by_name=True), __doc__=doc, **fields)


def _instruments_of(model: type[CrfData]) -> list[Instrument]:
    return [instrument for instrument in registry().values() if instrument.model is model]


def _tables() -> list[type[CrfData]]:
    """Every instrument table once, in the order of the instrument codes."""
    return list(dict.fromkeys(instrument.model for _, instrument in sorted(registry().items())))


# -- what an entry reads as ------------------------------------------------------------------------------------


class Stamp(BaseModel):
    """When something was done to the entry, and by whom: the monitor's source data verification, the data
    manager's lock."""

    at: datetime
    by: str | None = Field(description="the user's full name")


class SignatureOut(BaseModel):
    """An investigator's signature of the entry."""

    signed_by: str = Field(description="the printed name")
    signed_at: datetime
    meaning: str
    holds: bool = Field(description="not void, and the entry's data are still those signed")
    voided_at: datetime | None
    void_reason: str | None


class EntryHeader(BaseModel):
    """What every entry says besides its items."""

    id: int
    subject_code: str
    visit_code: str
    sequence: int = Field(description="1 for a single form; 1, 2, 3 ... for the entries of a list (adverse events ...)")
    status: EntryStatus
    state: str = Field(description="draft, complete, source-verified, signed, verified and signed, or locked")
    version: int = Field(description="goes up with every change of the entry")
    etag: str = Field(description="the entry's ETag (as in the ETag header): send it as If-Match to change the entry")
    missing: dict[str, MissingValue] = Field(description="items without a value and why")
    confirmed_warnings: list[str] = Field(description="codes of the plausibility warnings confirmed")
    verified: Stamp | None = Field(description="the monitor's source data verification (null: not verified)")
    signatures: list[SignatureOut]
    locked: Stamp | None = Field(description="the data manager's lock (null: not locked)")
    created_at: datetime
    updated_at: datetime
    updated_by: str | None = Field(description="who last saved it (null: the system)")


@cache
def entry_model(model: type[CrfData]) -> type[BaseModel]:
    """An entry of a table's instrument(s) as the API reads it."""
    instruments = _instruments_of(model)
    codes = tuple(instrument.code for instrument in instruments)
    return create_model(
        f"{model_name(instruments[0])}Entry",
        __base__=EntryHeader,
        __doc__=f"An entry of {' / '.join(instrument.label for instrument in instruments)}.",
        instrument=(_literal(codes), ...),
        values=(values_model(model), ...),
        computed=(computed_model(model), ...),
    )


# -- what a client sends -------------------------------------------------------------------------------------


class WriteCommon(BaseModel):
    """What a new entry and a change have in common."""

    model_config = ConfigDict(extra="forbid")

    confirmed_warnings: list[str] | None = Field(
        default=None, description="codes of plausibility warnings confirmed (a refusal names them); a change without it keeps those confirmed"
    )


@cache
def create_model_of(code: str) -> type[BaseModel]:
    """The body of a new entry of one instrument."""
    instrument = registry()[code]
    return create_model(
        f"{_camel(code)}EntryCreate",
        __base__=WriteCommon,
        __doc__=f"A new entry of {instrument.label}.",
        instrument=(_literal((code,)), ...),
        values=(
            values_model(instrument.model),
            Field(default_factory=values_model(instrument.model), description="the entered items; an item left out is empty"),
        ),
        missing=(missing_model(instrument.model), Field(default_factory=missing_model(instrument.model))),
        complete=(bool, Field(default=False, description="save as complete (every required item answered, warnings confirmed) or as a draft")),
    )


@cache
def update_model(model: type[CrfData]) -> type[BaseModel]:
    """The body of a change of an entry of a table's instrument(s)."""
    instrument = _instruments_of(model)[0]
    return create_model(
        f"{model_name(instrument)}EntryUpdate",
        __base__=WriteCommon,
        __doc__=(
            f"A change of an entry of {instrument.label}: the items named in `values` take those values (and lose their "
            "missing-data code), those named in `missing` that code (and lose their value); items named in neither keep "
            "what they have. Needs If-Match with the entry's ETag."
        ),
        values=(values_model(model), Field(default_factory=values_model(model))),
        missing=(missing_model(model), Field(default_factory=missing_model(model))),
        complete=(bool | None, Field(default=None, description="true: complete; false: draft; left out: as it is")),
        reason_for_change=(str, Field(default="", description="why a complete entry is changed (required then; at most 300 characters; no names)")),
    )


def _literal(values: tuple[str, ...]) -> Any:
    return Literal[values]


def _union(models: list[type[BaseModel]]) -> Any:
    return Union[tuple(models)]  # noqa: UP007 (a union of a list of types is made this way)


def _root(name: str, doc: str, models: list[type[BaseModel]]) -> type[RootModel]:
    return create_model(name, __base__=RootModel[_union(models)], __doc__=doc)  # type: ignore[call-overload,misc]


#: Any entry as read (the instrument says which).
EntryOut = _root("Entry", "An entry of one instrument: its `instrument` says which items `values` holds.", [entry_model(model) for model in _tables()])
#: A new entry of any instrument.
EntryCreate = _root("EntryCreate", "A new entry: `instrument` says which items `values` may hold.", [create_model_of(code) for code in sorted(registry())])
#: A change of an entry of any instrument (the entry's instrument says which items).
EntryUpdate = _root(
    "EntryUpdate", "A change of an entry: the entry's instrument says which items `values` may hold.", [update_model(model) for model in _tables()]
)


class EntryList(Page[EntryOut]):  # type: ignore[valid-type]
    """One page of entries, oldest first."""
