"""An instrument's form run on plain values, as if they were typed into its page: what an import checks with.

`check_entry` posts the values to the instrument's WTForms form (`Instrument.form`) and validates it as the
page does (types, ranges, code lists, missing-data codes and their reasons, the form's cross-field rules, and on
completing the required items), so that data coming in any other way pass exactly the checks a user's entry does.
Plausibility warnings are confirmed when asked (`confirm_warnings`): they are possible values a source system already
accepted, not errors.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ecrf.auth.models import User
from ecrf.crfs.context import FormContext
from ecrf.crfs.input import Checked, EntryInput
from ecrf.crfs.items import Kind
from ecrf.crfs.registry import Instrument
from forms.base import MISSING, REASON

#: xs:boolean's spellings.
TRUE, FALSE = ("true", "1"), ("false", "0")


def posted_text(kind: Kind, text: str, timezone: str) -> str | None:
    """A value as ODM (XML Schema) writes it, as the form's page would post it: booleans as the radio's or tick
    box's value, instants in the site's local time. None: nothing is posted (an unticked box). A text the form
    cannot read is posted as it is, so that the form names the problem."""
    if kind is Kind.TICK:
        return "y" if text.strip().lower() in TRUE else None
    if kind is Kind.YES_NO:
        value = text.strip().lower()
        return "True" if value in TRUE else "False" if value in FALSE else text
    if kind is Kind.DATETIME:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            return text
        if moment.tzinfo is not None:
            moment = moment.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
        if moment.microsecond:
            return text  # the form takes whole seconds at most: it says so
        return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")
    return text


def check_entry(
    item: Instrument,
    context: FormContext,
    values: dict[str, str],
    missing: dict[str, dict[str, str]],
    *,
    complete: bool,
    by: User | None,
    confirm_warnings: bool = True,
) -> Checked:
    """Validate an entry given as ODM text per item (`values`) and missing-data codes with their reasons, through the
    instrument's form, for saving as complete or as a draft; returns the `EntryInput` (only the items given, so an
    item the source left out stays empty, a tick box too) or the form's messages by item."""
    posted: dict[str, object] = {}
    for name, text in values.items():
        kind = item.items[name].kind if name in item.items else Kind.TEXT
        posted[name] = posted_text(kind, text, context.timezone)
    form_class = item.form
    form = form_class.from_plain(posted, missing, context=context)
    confirmed: list[str] = []
    # Warnings are judged only once nothing else is wrong: pending ones are then the form's only objection.
    if not form.validate_entry(complete) and confirm_warnings and complete and form.pending_warnings:
        confirmed = sorted({warning.code for warning in form.pending_warnings})
        form = form_class.from_plain(posted, missing, confirmed_warnings=confirmed, context=context)
        form.validate_entry(complete)
    problems: list[tuple[str | None, str]] = [(None, message) for message in form.form_errors]
    for name, messages in form.errors.items():
        if name is None:
            continue  # the form-level errors, listed above
        data_name = name.removesuffix(MISSING).removesuffix(REASON)
        problems += [(data_name, message) for message in dict.fromkeys(messages)]
    if problems:
        return Checked(None, problems)
    entered = form.entry_input(complete, by=by)
    kept = {name: value for name, value in entered.values.items() if name in values or name in missing}
    return Checked(
        EntryInput(values=kept, missing=entered.missing, confirmed_warnings=entered.confirmed_warnings, complete=complete, by=by),
        confirmed=confirmed,
    )
