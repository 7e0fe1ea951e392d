"""The only clock of the application. Tests move it with time-machine."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def now_utc() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def local_today(tz_name: str, at: datetime | None = None) -> date:
    """The calendar date in the IANA time zone `tz_name` at instant `at` (default: now)."""
    return (at or now_utc()).astimezone(ZoneInfo(tz_name)).date()


def site_today(site) -> date:
    """Today's date on the site's own calendar."""
    return local_today(site.timezone)


def to_local(moment: datetime, tz_name: str) -> datetime:
    """An aware instant shown in the time zone `tz_name`."""
    return moment.astimezone(ZoneInfo(tz_name))
