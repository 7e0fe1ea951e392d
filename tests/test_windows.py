"""Visit windows and the one function that decides window status."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf.clock import local_today, site_today
from ecrf.protocols import protocol_for
from ecrf.subjects.models import SubjectStatus
from ecrf.visits.windows import WindowStatus, compute_window, window_status

START, END = date(2027, 3, 1), date(2027, 3, 29)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (START - timedelta(days=1), WindowStatus.NOT_YET_OPEN),
        (START, WindowStatus.OPEN),
        (END, WindowStatus.OPEN),
        (END + timedelta(days=1), WindowStatus.OVERDUE),
    ],
)
def test_pending_visit_status_at_the_edges_of_its_window(today, expected):
    assert window_status(START, END, today=today) is expected


@pytest.mark.parametrize(
    ("visit_date", "expected"),
    [
        (START - timedelta(days=1), WindowStatus.COMPLETED_OUT_OF_WINDOW),
        (START, WindowStatus.COMPLETED_IN_WINDOW),
        (END, WindowStatus.COMPLETED_IN_WINDOW),
        (END + timedelta(days=1), WindowStatus.COMPLETED_OUT_OF_WINDOW),
    ],
)
def test_completed_visit_is_in_window_on_the_first_and_last_day_only(visit_date, expected):
    assert window_status(START, END, today=END + timedelta(days=30), visit_date=visit_date) is expected


def test_missed_and_not_applicable_apply_only_to_visits_without_a_date():
    later = END + timedelta(days=5)
    assert window_status(START, END, today=later, missed=True) is WindowStatus.MISSED
    assert window_status(START, END, today=later, not_applicable=True) is WindowStatus.NOT_APPLICABLE
    assert window_status(START, END, today=later, visit_date=START, not_applicable=True) is WindowStatus.COMPLETED_IN_WINDOW


@given(
    start=st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1)),
    length=st.integers(min_value=0, max_value=120),
    today_offset=st.integers(min_value=-400, max_value=400),
    visit_offset=st.one_of(st.none(), st.integers(min_value=-400, max_value=400)),
)
def test_status_agrees_with_window_membership(start, length, today_offset, visit_offset):
    end = start + timedelta(days=length)
    today = start + timedelta(days=today_offset)
    visit_date = None if visit_offset is None else start + timedelta(days=visit_offset)
    status = window_status(start, end, today=today, visit_date=visit_date)
    if visit_date is not None:
        assert (status is WindowStatus.COMPLETED_IN_WINDOW) == (start <= visit_date <= end)
    elif today < start:
        assert status is WindowStatus.NOT_YET_OPEN
    elif today > end:
        assert status is WindowStatus.OVERDUE
    else:
        assert status is WindowStatus.OPEN


def test_windows_from_a_leap_day_index_date(app):
    visits = {v.code: compute_window(date(2028, 2, 29), v) for v in protocol_for("defier").visits}
    assert (visits["m1"].target, visits["m1"].start, visits["m1"].end) == (date(2028, 3, 30), date(2028, 3, 23), date(2028, 4, 6))
    assert (visits["m12"].target, visits["m12"].start, visits["m12"].end) == (date(2029, 2, 28), date(2029, 1, 29), date(2029, 3, 30))
    assert (visits["m24"].target, visits["m24"].start, visits["m24"].end) == (date(2030, 2, 28), date(2029, 12, 30), date(2030, 4, 29))
    angel = {v.code: compute_window(date(2028, 2, 29), v) for v in protocol_for("angel-icas").visits}
    assert (angel["h48"].start, angel["h48"].end) == (date(2028, 3, 1), date(2028, 3, 3))


def test_site_calendar_decides_the_date_at_one_utc_instant():
    instant = datetime.fromisoformat("2027-06-10T18:00:00+00:00")
    assert local_today("Asia/Shanghai", instant) == date(2027, 6, 11)
    assert local_today("America/Los_Angeles", instant) == date(2027, 6, 10)


def test_the_same_window_is_overdue_in_shanghai_and_open_in_los_angeles(make_site, make_subject, clock):
    shanghai = make_site("SH01", ["defiance"], "Asia/Shanghai")
    los_angeles = make_site("US03", ["defiance"], "America/Los_Angeles", "US")
    with clock(datetime(2026, 5, 1, 12)):
        east = make_subject("defiance", shanghai, date(2026, 5, 1))
        west = make_subject("defiance", los_angeles, date(2026, 5, 1))
    east_d30, west_d30 = east.visits[1], west.visits[1]
    assert east_d30.window_end == west_d30.window_end == date(2026, 6, 7)
    # 2026-06-07T18:00Z is 02:00 on 8 June in Shanghai and 11:00 on 7 June in Los Angeles.
    with clock(datetime(2026, 6, 7, 18)):
        assert east_d30.status(site_today(shanghai)) is WindowStatus.OVERDUE
        assert west_d30.status(site_today(los_angeles)) is WindowStatus.OPEN
    # The first day of the window: open in both once each site's calendar reaches it.
    with clock(datetime(2026, 5, 24, 15)):  # 23:00 on 24 May in Shanghai, 08:00 in Los Angeles
        assert east_d30.window_start == date(2026, 5, 24)
        assert east_d30.status(site_today(shanghai)) is WindowStatus.OPEN
        assert west_d30.status(site_today(los_angeles)) is WindowStatus.OPEN
    with clock(datetime(2026, 5, 24, 6)):  # 14:00 on 24 May in Shanghai, 23:00 on 23 May in Los Angeles
        assert west_d30.status(site_today(los_angeles)) is WindowStatus.NOT_YET_OPEN
        assert east_d30.status(site_today(shanghai)) is WindowStatus.OPEN


def test_visits_after_leaving_the_study_are_not_applicable(make_site, make_subject, clock):
    site = make_site("SH01", ["defier"])
    with clock(datetime(2026, 1, 5, 4)):
        subject = make_subject("defier", site, date(2026, 1, 5))
    subject.status, subject.status_date = SubjectStatus.WITHDRAWN, date(2026, 2, 20)
    statuses = {v.definition.code: v.status(date(2026, 3, 1)) for v in subject.visits}
    assert statuses["m1"] is WindowStatus.OVERDUE  # closed before the withdrawal: still needs an answer
    assert statuses["m3"] is WindowStatus.NOT_APPLICABLE
    assert statuses["m24"] is WindowStatus.NOT_APPLICABLE


def test_sql_filters_put_every_pending_visit_where_window_status_does(make_site, make_subject, clock):
    from sqlalchemy import case, select

    from ecrf.extensions import db
    from ecrf.subjects.models import Subject
    from ecrf.visits.models import Visit
    from ecrf.visits.windows import pending_status_filters

    sites = [make_site("SH01", ["defier"], "Asia/Shanghai"), make_site("US03", ["defier"], "America/Los_Angeles", "US")]
    with clock(datetime(2027, 6, 7, 18)):  # 8 June in Shanghai, 7 June in Los Angeles
        for offset in range(0, 400, 3):
            for site in sites:
                subject = make_subject("defier", site, date(2027, 6, 7) - timedelta(days=offset))
                if offset % 9 == 0:  # some leave the study, some visits are done or missed
                    subject.status, subject.status_date = SubjectStatus.WITHDRAWN, date(2027, 6, 1) - timedelta(days=offset // 2)
                elif offset % 9 == 3:
                    subject.visits[1].visit_date = subject.visits[1].window_end
                elif offset % 9 == 6:
                    subject.visits[1].missed = True
        db.session.commit()
        todays = {site.id: site_today(site) for site in sites}
        filters = pending_status_filters(Visit.window_start, Visit.window_end, case(todays, value=Subject.site_id))
        by_sql = {
            status: set(db.session.scalars(select(Visit.id).join(Visit.subject).where(Visit.pending_clause(), condition)))
            for status, condition in filters.items()
        }
        visits = db.session.scalars(select(Visit)).all()
    by_python = {status: {v.id for v in visits if v.status(todays[v.subject.site_id]) is status} for status in filters}
    assert by_sql == by_python
    assert all(by_sql.values())
