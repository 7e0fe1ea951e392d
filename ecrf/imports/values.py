"""ODM (XML Schema) texts as this app's values: the one reading of an ItemData's Value and of a DateTimeStamp that
the import's entry check, its subject's and visits' own items, its history and its reading of AuditRecords share.

As XML Schema reads them: numbers, booleans, dates and date-times with surrounding white space dropped (xs
"collapse"), text and codes exactly as written (xs:string). Dates are YYYY-MM-DD; date-times
YYYY-MM-DDTHH:MM[:SS[.ffffff]] with an optional offset or Z (no other ISO 8601 spellings: no week dates, no basic
format). A date-time without an offset is the site's local time for an item, UTC for a DateTimeStamp (ODM's
convention). Fractions of a second are read here; whether they are kept is the form's decision (it keeps whole
seconds at most and names the problem, for the API too: see `forms.base._posted`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from ecrf.crfs.items import Kind

#: xs:boolean's spellings.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII)
#: Kinds whose text is xs:string: kept exactly as written.
_TEXTS = (Kind.TEXT, Kind.CHOICE, Kind.PARTIAL_DATE)


def xs_date(text: str) -> date:
    """An xs:date (YYYY-MM-DD); ValueError when it is not one."""
    text = text.strip()
    if not _DATE.fullmatch(text):
        raise ValueError(f"'{text}' is not a date as YYYY-MM-DD")
    return date.fromisoformat(text)


def xs_datetime(text: str) -> datetime:
    """An xs:dateTime, aware when it has an offset (or Z), naive otherwise; ValueError when it is not one."""
    text = text.strip()
    if not _DATETIME.fullmatch(text):
        raise ValueError(f"'{text}' is not a date and time as YYYY-MM-DDTHH:MM[:SS], with an offset or without")
    return datetime.fromisoformat(text)


def typed(kind: Kind, text: str, timezone: str = "UTC") -> object:
    """An ODM text as this app holds an item of `kind`: int, Decimal, bool, date, an aware UTC datetime (one without
    an offset is in `timezone`), or the text itself; ValueError when it is not one."""
    if kind in _TEXTS:
        return text
    text = text.strip()
    if kind in (Kind.INTEGER, Kind.GRADED):
        return int(text)
    if kind is Kind.DECIMAL:
        try:
            return Decimal(text)
        except InvalidOperation:
            raise ValueError(f"'{text}' is not a number") from None
    if kind in (Kind.YES_NO, Kind.TICK):
        if text.lower() in _BOOLEANS:
            return _BOOLEANS[text.lower()]
        raise ValueError(f"'{text}' is not true or false (true, 1, false or 0)")
    if kind is Kind.DATE:
        return xs_date(text)
    if kind is Kind.DATETIME:
        moment = xs_datetime(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))).astimezone(UTC)
    return text


def site_local(kind: Kind, text: str, timezone: str) -> object:
    """An ODM text as the form's page is given a value (`CrfForm.from_plain`): `typed`, with a date-time naive in the
    site's local time; the text itself when it is not one, so that the form names the problem."""
    try:
        value = typed(kind, text, timezone)
    except ValueError:
        return text
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return value


def stamp_instant(text: str | None) -> datetime | None:
    """A DateTimeStamp as an aware instant (one without an offset is UTC, by ODM's convention); None when it is none."""
    try:
        moment = xs_datetime(text) if text else None
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
