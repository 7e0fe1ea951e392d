"""Where an instrument entry is made: what its form checks and its computations need to know."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ecrf.protocols.schema import Protocol


@dataclass(frozen=True)
class FormContext:
    """What a form needs to know about where it is entered."""

    protocol: Protocol
    index_date: date
    site_today: date
    timezone: str
    visit_code: str
    visit_target_day: int
    visit_date: date | None
    arm_code: str | None = None
    #: The index instant, where the protocol's index has a time (ANGEL-ICAS randomization).
    index_at: datetime | None = None
    #: The current instant (UTC); with `timezone` it gives the site's local time.
    now: datetime | None = None
    #: The subject's informed consent date (on or before day 0): adverse events are recorded from it.
    consent_date: date | None = None
    #: The visit's stored window (`Visit.window_start` / `window_end`, fixed at enrolment): window warnings use it, so
    #: an amended protocol never moves the window of a visit already scheduled. A context built outside a visit (a
    #: form test) may leave it out: the protocol's window from the index date is used then.
    window_start: date | None = None
    window_end: date | None = None

    @property
    def is_baseline(self) -> bool:
        return self.visit_target_day == 0
