"""Visit windows: the one place that computes a window and decides a visit's status.

Worklists, subject pages, emails, exports and reports call `window_status`; none
re-derives it. Dates are calendar dates on the site's own calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol as TypingProtocol

from sqlalchemy import ColumnElement, and_


class WindowStatus(StrEnum):
    """Where a visit stands relative to its window."""

    NOT_YET_OPEN = "not yet open"
    OPEN = "open"
    OVERDUE = "overdue"
    COMPLETED_IN_WINDOW = "completed in window"
    COMPLETED_OUT_OF_WINDOW = "completed out of window"
    MISSED = "missed"
    NOT_APPLICABLE = "not applicable"

    @property
    def is_done(self) -> bool:
        """No more action is expected for the visit."""
        return self not in (WindowStatus.NOT_YET_OPEN, WindowStatus.OPEN, WindowStatus.OVERDUE)

    @property
    def css(self) -> str:
        """Bootstrap colour for this status."""
        return _CSS[self]

    @property
    def row_css(self) -> str:
        """Bootstrap colour of a table row of a visit with this status: none where the row would be unreadable
        (dark) or invisible (light)."""
        return "" if _CSS[self] in ("light", "dark") else _CSS[self]


_CSS = {
    WindowStatus.NOT_YET_OPEN: "secondary",
    WindowStatus.OPEN: "primary",
    WindowStatus.OVERDUE: "danger",
    WindowStatus.COMPLETED_IN_WINDOW: "success",
    WindowStatus.COMPLETED_OUT_OF_WINDOW: "warning",
    WindowStatus.MISSED: "dark",
    WindowStatus.NOT_APPLICABLE: "light",
}


class Timed(TypingProtocol):
    """Anything with a visit's timing: a protocol visit or a visit definition row."""

    target_day: int
    days_before: int
    days_after: int


@dataclass(frozen=True)
class Window:
    """A visit's target date and its inclusive window."""

    target: date
    start: date
    end: date

    def contains(self, day: date) -> bool:
        """Whether `day` lies in the window (both ends included)."""
        return self.start <= day <= self.end


def compute_window(index_date: date, visit: Timed) -> Window:
    """The window of `visit` for a subject whose day 0 is `index_date`: [index + target - before, index + target + after]."""
    target = index_date + timedelta(days=visit.target_day)
    return Window(target, target - timedelta(days=visit.days_before), target + timedelta(days=visit.days_after))


def window_status(
    window_start: date,
    window_end: date,
    *,
    today: date,
    visit_date: date | None = None,
    missed: bool = False,
    not_applicable: bool = False,
) -> WindowStatus:
    """Status of one visit on the site-local date `today`.

    A recorded visit date wins over everything (a visit done stays done); a visit with no
    date is not applicable, missed, or else not yet open / open / overdue by its window.
    """
    if visit_date is not None:
        if window_start <= visit_date <= window_end:
            return WindowStatus.COMPLETED_IN_WINDOW
        return WindowStatus.COMPLETED_OUT_OF_WINDOW
    if not_applicable:
        return WindowStatus.NOT_APPLICABLE
    if missed:
        return WindowStatus.MISSED
    if today < window_start:
        return WindowStatus.NOT_YET_OPEN
    if today <= window_end:
        return WindowStatus.OPEN
    return WindowStatus.OVERDUE


def pending_status_filters(window_start, window_end, today) -> dict[WindowStatus, ColumnElement[bool]]:
    """SQL conditions that select, among visits with no date that are neither missed nor
    not applicable, those `window_status` puts in each pending status.

    `window_start` and `window_end` are columns, `today` a date or an SQL expression
    (each site's own date). This mirrors the last three branches of `window_status`;
    a test holds the two to the same answers.
    """
    return {
        WindowStatus.NOT_YET_OPEN: window_start > today,
        WindowStatus.OPEN: and_(window_start <= today, window_end >= today),
        WindowStatus.OVERDUE: window_end < today,
    }
