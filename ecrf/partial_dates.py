"""Partial dates, as ISO 8601 and CDISC --DTC variables write them: pure functions, no Flask, no database.

A partial date is a string "YYYY-MM-DD" (full), "YYYY-MM" (day unknown) or "YYYY"
(day and month unknown): the right-hand parts are left out, never guessed. A day
without its month cannot be written in ISO 8601, so it is refused.

Accepted on input (choice: what sites write on paper CRFs, where CDASH prints
"UN UNK YYYY"), and normalised to the truncated ISO form:
- "UN", "UNK" or "XX" (any case) for an unknown day or month: "2026-03-UN" -> "2026-03",
  "2026-UN-UN" and "2026-UNK-UN" -> "2026";
- one-digit months and days: "2026-3-5" -> "2026-03-05";
- surrounding spaces.
Years run from 1900 to 2100: a guard against typing slips such as "0226"; whether a date
lies in the study is the form's rule, not this module's.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

#: Inclusive range of years accepted, everywhere a date comes in (forms, API, import): a year outside it is a typing
#: slip, and keeps date arithmetic (time zones, windows) in range.
YEAR_MIN, YEAR_MAX = 1900, 2100


def year_problem(year: int) -> str | None:
    """What is wrong with a date's year ("the year must be between 1900 and 2100"), or None: the one rule."""
    return None if YEAR_MIN <= year <= YEAR_MAX else f"the year must be between {YEAR_MIN} and {YEAR_MAX}"


#: What the user is asked to enter (used in messages).
FORMATS = "YYYY-MM-DD, YYYY-MM or YYYY"

_UNKNOWN = {"UN", "UNK", "XX"}
_SHAPE = re.compile(r"^(\d{4})(?:-([0-9]{1,2}|[A-Za-z]{2,3})(?:-([0-9]{1,2}|[A-Za-z]{2,3}))?)?$")


def parse_partial(text: str) -> str:
    """The normalised partial date of `text`; ValueError with a reason the user can act on."""
    match = _SHAPE.match((text or "").strip())
    if not match:
        raise ValueError(f"{(text or '').strip()!r} is not a date")
    year_text, month_text, day_text = match.groups()
    month, day = _part(month_text, "month"), _part(day_text, "day")
    problem = year_problem(int(year_text))
    if problem:
        raise ValueError(problem)
    year = int(year_text)
    if month is None:
        if day is not None:
            raise ValueError("a day cannot be given when the month is unknown")
        return f"{year:04d}"
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} does not exist")
    if day is None:
        return f"{year:04d}-{month:02d}"
    days_in_month = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days_in_month:
        raise ValueError(f"{calendar.month_name[month]} {year} has {days_in_month} days, so there is no day {day}")
    return f"{year:04d}-{month:02d}-{day:02d}"


def _part(text: str | None, name: str) -> int | None:
    """A month or day: its number, or None when absent or written as unknown."""
    if text is None or text.upper() in _UNKNOWN:
        return None
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a {name}; write UN when the {name} is unknown")
    return int(text)


def _parts(partial: str) -> tuple[int, int | None, int | None]:
    pieces = [int(piece) for piece in parse_partial(partial).split("-")]
    return pieces[0], (pieces[1] if len(pieces) > 1 else None), (pieces[2] if len(pieces) > 2 else None)


def earliest(partial: str) -> date:
    """The first day the partial date can mean ("2026-02" -> 2026-02-01)."""
    year, month, day = _parts(partial)
    return date(year, month or 1, day or 1)


def latest(partial: str) -> date:
    """The last day the partial date can mean ("2024-02" -> 2024-02-29, "2026" -> 2026-12-31)."""
    year, month, day = _parts(partial)
    month = month or 12
    return date(year, month, day or calendar.monthrange(year, month)[1])


def definitely_before(a: str, b: str) -> bool:
    """Whether `a` is before `b` whatever the unknown parts are (latest(a) < earliest(b))."""
    return latest(a) < earliest(b)
