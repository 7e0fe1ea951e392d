"""ODM (XML Schema) texts as this app's values: the one reading of an ItemData's Value and of a DateTimeStamp that
the import's entry check, its subject's and visits' own items, its history and its reading of AuditRecords share.

As XML Schema reads them: numbers, booleans, dates and date-times with surrounding white space dropped (xs
"collapse"), text and codes exactly as written (xs:string). Dates are YYYY-MM-DD; date-times
YYYY-MM-DDTHH:MM[:SS[.f...]] with an optional offset or Z (no other ISO 8601 spellings: no week dates, no basic
format); 24:00:00 is the next day's 00:00:00, as XML Schema reads it. A date-time without an offset is the site's
local time for an item, UTC for a DateTimeStamp (ODM's convention). Fractions of a second of any length are read
here. An item's value keeps them to the microsecond (finer digits must be zeros: a clinical value is never changed
silently), and whether they are kept at all is the form's decision (it keeps whole seconds at most and names the
problem, for the API too: see `forms.base._posted`). A DateTimeStamp's are cut (not rounded) to microseconds: a
history time, not a clinical value, and cutting never moves it into the next second; a DateTimeStamp that cannot be
read is an error (`stamp_instant`), never dropped."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ecrf.clock import now_utc
from ecrf.crfs.items import Kind
from ecrf.partial_dates import year_problem

#: xs:boolean's spellings.
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: xs:integer's and xs:decimal's lexical spaces (no "1_000", no other scripts' digits, no NaN or exponent).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DATETIME = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d+))?(?P<offset>Z|[+-]\d{2}:\d{2})?", re.ASCII)
#: Digits of a fraction of a second Python's datetime holds (microseconds).
_MICRO = 6
#: Kinds whose text is xs:string: kept exactly as written.
_TEXTS = (Kind.TEXT, Kind.CHOICE, Kind.PARTIAL_DATE)


def xs_date(text: str) -> date:
    """An xs:date (YYYY-MM-DD) in the years `year_problem` allows; ValueError when it is not one."""
    text = text.strip()
    if not _DATE.fullmatch(text):
        raise ValueError(f"'{text}' is not a date as YYYY-MM-DD")
    return _in_years(date.fromisoformat(text), text)


def xs_datetime(text: str, *, truncate: bool = False) -> datetime:
    """An xs:dateTime in the years `year_problem` allows (its date as written), aware when it has an offset (or Z),
    naive otherwise; ValueError when it is not one. 24:00:00 is the next day's 00:00:00 (as XML Schema reads it). A
    fraction of any length is read; beyond microseconds it is cut to them with `truncate` (a DateTimeStamp's), and
    otherwise must be zeros there (an item's value: never changed silently)."""
    text = text.strip()
    match = _DATETIME.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a date and time as YYYY-MM-DDTHH:MM[:SS], with an offset or without")
    fraction = match["fraction"] or ""
    if fraction[_MICRO:].strip("0") and not truncate:
        raise ValueError(f"'{text}': fractions of a second finer than a microsecond are not kept")
    clock, next_day = match["time"], False
    if clock in ("24:00", "24:00:00"):
        if fraction.strip("0"):
            raise ValueError(f"'{text}' is not a time: after 24:00:00 comes 00:00:00")
        clock, next_day = "00:00:00", True
    moment = datetime.fromisoformat(f"{match['date']}T{clock}{f'.{fraction[:_MICRO]}' if fraction else ''}{match['offset'] or ''}")
    _in_years(moment.date(), text)
    return moment + timedelta(days=1) if next_day else moment


def _in_years(day: date, text: str) -> date:
    """`day` (read from `text`) when its year is one `year_problem` allows; ValueError naming the rule otherwise."""
    problem = year_problem(day.year)
    if problem:
        raise ValueError(f"'{text}': {problem}")
    return day


def typed(kind: Kind, text: str, timezone: str = "UTC") -> object:
    """An ODM text as this app holds an item of `kind`: int, Decimal, bool, date, an aware UTC datetime (one without
    an offset is in `timezone`), or the text itself; ValueError when it is not one."""
    if kind in _TEXTS:
        return text
    text = text.strip()
    if kind in (Kind.INTEGER, Kind.GRADED):
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"'{text}' is not a whole number (digits 0-9, an optional sign)")
        return int(text)
    if kind is Kind.DECIMAL:
        if not _DECIMAL.fullmatch(text):
            raise ValueError(f"'{text}' is not a number (digits 0-9, an optional sign and decimal point)")
        return Decimal(text)
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


def stamp_instant(text: str | None) -> datetime:
    """A DateTimeStamp as an aware instant (one without an offset is UTC, by ODM's convention; a fraction finer than a
    microsecond cut to microseconds: history times, not clinical values); ValueError when there is none, it is not
    an xs:dateTime, its year is out of `year_problem`'s range, or it is after now (history cannot be of the future)."""
    if not text or not text.strip():
        raise ValueError("the DateTimeStamp is empty")
    moment = xs_datetime(text, truncate=True)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    if moment > now_utc():
        raise ValueError(f"'{text.strip()}' is after now: a history record cannot be dated in the future")
    return moment
