"""Partial dates: normalising what sites type, the earliest and latest day meant, and "definitely before"."""

from __future__ import annotations

from datetime import date

import pytest

from ecrf.partial_dates import definitely_before, earliest, latest, parse_partial


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("2026-03-05", "2026-03-05"),
        ("2026-03", "2026-03"),
        ("2026", "2026"),
        (" 2026-3-5 ", "2026-03-05"),
        ("2026-03-UN", "2026-03"),
        ("2026-03-un", "2026-03"),
        ("2026-UN-UN", "2026"),
        ("2026-UNK-UN", "2026"),
        ("2026-UNK", "2026"),
        ("2024-02-29", "2024-02-29"),
        ("2000-02-29", "2000-02-29"),
    ],
)
def test_parse_normalises_to_truncated_iso(text, normalised):
    assert parse_partial(text) == normalised


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a date"),
        ("26-03-05", "'26-03-05' is not a date"),
        ("2026/03/05", "'2026/03/05' is not a date"),
        ("2026-03-05T10:00", "'2026-03-05T10:00' is not a date"),
        ("2026-13", "month 13 does not exist"),
        ("2026-00-10", "month 0 does not exist"),
        ("2025-02-29", "February 2025 has 28 days, so there is no day 29"),
        ("1900-02-29", "February 1900 has 28 days, so there is no day 29"),
        ("2026-04-31", "April 2026 has 30 days, so there is no day 31"),
        ("2026-04-00", "April 2026 has 30 days, so there is no day 0"),
        ("2026-UN-05", "a day cannot be given when the month is unknown"),
        ("2026-Mar-05", "'Mar' is not a month; write UN when the month is unknown"),
        ("1899", "the year must be between 1900 and 2100"),
        ("0226-01-01", "the year must be between 1900 and 2100"),
    ],
)
def test_parse_refuses_with_a_reason(text, message):
    with pytest.raises(ValueError) as error:
        parse_partial(text)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("partial", "first", "last"),
    [
        ("2026-03-05", date(2026, 3, 5), date(2026, 3, 5)),
        ("2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),  # leap year
        ("2025-02", date(2025, 2, 1), date(2025, 2, 28)),
        ("2000-02", date(2000, 2, 1), date(2000, 2, 29)),  # divisible by 400: leap
        ("2100-02", date(2100, 2, 1), date(2100, 2, 28)),  # divisible by 100 only: not leap
        ("2026-04", date(2026, 4, 1), date(2026, 4, 30)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-03-UN", date(2026, 3, 1), date(2026, 3, 31)),
    ],
)
def test_earliest_and_latest_day_of_a_partial_date(partial, first, last):
    assert (earliest(partial), latest(partial)) == (first, last)


@pytest.mark.parametrize(
    ("a", "b", "before"),
    [
        ("2026-03-31", "2026-04-01", True),
        ("2026-03", "2026-04-01", True),
        ("2026-03", "2026-04", True),
        ("2025", "2026-01", True),
        ("2026-03-05", "2026-03-05", False),  # same day
        ("2026-03", "2026-03-15", False),  # could be after the 15th
        ("2026-03-15", "2026-03", False),  # could be before the end of March
        ("2026", "2026-05-01", False),
        ("2026-04-01", "2026-03", False),
        ("2024-02", "2024-02-29", False),  # 29 February 2024 exists, so February 2024 may be that day
        ("2024-02-28", "2024-02-29", True),
    ],
)
def test_definitely_before_only_whatever_the_unknown_parts_are(a, b, before):
    assert definitely_before(a, b) is before
