"""An entry of an ODM file checked by its instrument's form, as if its values were typed into the form's page.

The values are ODM (XML Schema) text; each is read as `ecrf.imports.values` reads every ODM value (a date-time in the
site's local time; a text that is no value of its kind is given as it is, so that the form names the problem, except
a tick box's or a number's, named here: `_READ_HERE`), and the instrument's own WTForms form
(`instrument(code).form.from_plain`, as the API uses it) validates them: types, ranges, code lists, missing-data codes
and their reasons, the form's cross-field rules, and on completing the required items. So data
coming in from another system pass exactly the checks a user's entry does. Plausibility warnings of a complete form
are confirmed (the source system accepted the values): they are possible values, not errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecrf.auth.models import User
from ecrf.crfs.context import FormContext
from ecrf.crfs.input import EntryInput
from ecrf.crfs.items import Kind
from ecrf.crfs.registry import Instrument
from ecrf.imports.values import site_local, typed

#: Kinds whose ODM text is judged here, not by the form: a tick box posts "y" or nothing, so its form cannot name a
#: text that is neither; a number field reads a posted text with int()/Decimal(), which take "1_000", other scripts'
#: digits, NaN and exponents, none of them an xs:integer or xs:decimal.
_READ_HERE = (Kind.TICK, Kind.INTEGER, Kind.GRADED, Kind.DECIMAL)


@dataclass(frozen=True)
class Checked:
    """An entry checked by its form: the input for `save_entry`, or the form's problems as (item name or None for the
    whole form, message)."""

    entered: EntryInput | None
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    #: Plausibility warnings the check confirmed.
    confirmed: list[str] = field(default_factory=list)


def _item_name(place: str | None) -> str | None:
    """The item a problem of `plain_errors` is about ("values.x", "missing.x.code" ...), or None for the form."""
    if place is None or not place.startswith(("values.", "missing.")):
        return None
    return place.split(".")[1]


def check_entry(
    item: Instrument, context: FormContext, values: dict[str, str], missing: dict[str, dict[str, str]], *, complete: bool, by: User | None
) -> Checked:
    """Validate an entry given as ODM text per item (`values`) and missing-data codes with their reasons, through the
    instrument's form, for saving as complete or as a draft: the `EntryInput` (only the items given, so that an item
    the source left out stays empty, a tick box too) or the form's messages by item."""
    posted: dict[str, object] = {}
    unreadable: list[tuple[str | None, str]] = []
    for name, text in values.items():
        kind = item.items[name].kind if name in item.items else Kind.TEXT
        if kind not in _READ_HERE:
            posted[name] = site_local(kind, text, context.timezone)
            continue
        try:
            posted[name] = typed(kind, text)
        except ValueError as error:
            unreadable.append((name, f"{item.items.label(name)}: not valid; {error}."))
    form = item.form.from_plain(posted, missing, context=context)
    confirmed: list[str] = []
    # Warnings are judged only once nothing else is wrong: pending ones are then the form's only objection.
    if not form.validate_entry(complete) and complete and form.pending_warnings:
        confirmed = sorted({warning.code for warning in form.pending_warnings})
        form = item.form.from_plain(posted, missing, confirmed_warnings=confirmed, context=context)
        form.validate_entry(complete)
    problems = list(dict.fromkeys([*unreadable, *((_item_name(place), message) for place, message in form.plain_errors())]))
    if problems:
        return Checked(None, problems)
    entered = form.entry_input(complete, by=by)
    kept = {name: value for name, value in entered.values.items() if name in values or name in missing}
    return Checked(
        EntryInput(values=kept, missing=entered.missing, confirmed_warnings=entered.confirmed_warnings, complete=complete, by=by),
        confirmed=confirmed,
    )
