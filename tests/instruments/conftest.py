"""Form-level helpers for instrument tests: build a form from posted values in a context, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from werkzeug.datastructures import MultiDict

from ecrf.protocols import protocol_for
from forms.base import CrfForm, FormContext

INDEX_DATE = date(2026, 1, 1)
TODAY = date(2027, 6, 1)


@pytest.fixture
def context():
    """Factory: a FormContext for a study and visit.

    Defaults, shared with the generic instrument tests: day 0 = 2026-01-01, site today =
    2027-06-01 (now 04:00 UTC, noon in Shanghai), the visit done on its target date; `window` is the visit's
    stored window (without it, the protocol's window from the index date).
    """

    def make(
        study: str = "defier",
        visit_code: str = "m6",
        *,
        index_date: date = INDEX_DATE,
        today: date = TODAY,
        arm_code: str | None = None,
        timezone: str = "Asia/Shanghai",
        visit_date: date | None = None,
        index_at: datetime | None = None,
        now: datetime | None = None,
        consent_date: date | None = None,
        window: tuple[date, date] | None = None,
    ) -> FormContext:
        protocol = protocol_for(study)
        target_day = protocol.visit(visit_code).target_day
        return FormContext(
            protocol=protocol,
            index_date=index_date,
            site_today=today,
            timezone=timezone,
            visit_code=visit_code,
            visit_target_day=target_day,
            visit_date=visit_date or index_date + timedelta(days=target_day),
            arm_code=arm_code,
            index_at=index_at,
            now=now or datetime.combine(today, time(4, 0), UTC),
            consent_date=consent_date,
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
        )

    return make


@pytest.fixture
def posted(app):
    """Factory: `posted(FormClass, {field: value}, context, complete=True)` -> (form, valid).

    The form is built from the values as a browser would post them (CSRF off) and validated
    for saving as complete (or as a draft with complete=False).
    """

    def make(form_class: type[CrfForm], values: dict, context: FormContext, complete: bool = True):
        formdata = MultiDict()
        for name, value in values.items():
            for item in value if isinstance(value, list) else [value]:
                formdata.add(name, "" if item is None else str(item))
        with app.test_request_context(method="POST", data=formdata):
            form = form_class(formdata=formdata, context=context, meta={"csrf": False})
            valid = form.validate_entry(complete)
        return form, valid

    return make
