"""The worklist and the subject list: right content, each site's own calendar, constant query count."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from ecrf.auth.models import Role
from ecrf.extensions import db
from ecrf.visits.services import record_visit_date


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    return page[start : page.index("</table>", start)]


def test_worklist_lists_overdue_open_and_opening_visits_across_studies_and_sites(make_site, make_user, make_subject, login, client, clock):
    shanghai = make_site("SH01", ["defier"], "Asia/Shanghai")
    berlin = make_site("DE01", ["defiance"], "Europe/Berlin", "DE")
    user = make_user("c@example.org", [("defier", shanghai, Role.COORDINATOR), ("defiance", berlin, Role.COORDINATOR)])
    with clock(datetime(2027, 1, 1, 8)):
        make_subject("defier", shanghai, date(2026, 11, 1))  # m1 window 2026-11-24..12-08: closed, no date
        make_subject("defier", shanghai, date(2026, 12, 1))  # m1 window 2026-12-24..2027-01-07: open
        make_subject("defiance", berlin, date(2026, 12, 15))  # d30 window 2027-01-07..01-21: opens in 6 days
        done = make_subject("defier", shanghai, date(2026, 11, 2))
        record_visit_date(done.visits[1], date(2026, 12, 1))
        db.session.commit()
        login(user)
        page = client.get("/").get_data(as_text=True)
    overdue = _section(page, "overdue")
    assert "DEF-SH01-0001" in overdue and "1 month" in overdue and "24 days overdue" in overdue
    assert "DEF-SH01-0003" not in overdue  # its 1-month visit is done
    assert "baseline" not in overdue.lower()  # day-0 visits are dated at enrolment
    assert "DEF-SH01-0002" in _section(page, "open") and "closes in 6 days" in page
    assert "DFN-DE01-0001" in _section(page, "opening") and "opens in 6 days" in page


def test_worklist_judges_each_visit_on_its_own_sites_calendar(make_site, make_user, make_subject, login, client, clock):
    shanghai = make_site("SH01", ["defiance"], "Asia/Shanghai")
    los_angeles = make_site("US03", ["defiance"], "America/Los_Angeles", "US")
    user = make_user("c@example.org", [("defiance", shanghai, Role.COORDINATOR), ("defiance", los_angeles, Role.COORDINATOR)])
    with clock(datetime(2026, 5, 1, 12)):
        make_subject("defiance", shanghai, date(2026, 5, 1))
        make_subject("defiance", los_angeles, date(2026, 5, 1))
    with clock(datetime(2026, 6, 7, 18)):  # 8 June in Shanghai, 7 June in Los Angeles; both d30 windows end 7 June
        login(user)
        page = client.get("/").get_data(as_text=True)
    assert "DFN-SH01-0001" in _section(page, "overdue") and "DFN-US03-0001" not in _section(page, "overdue")
    assert "DFN-US03-0001" in _section(page, "open")


def test_subject_list_shows_each_subjects_next_visit_and_status(make_site, make_user, make_subject, login, client, clock):
    site = make_site("SH01", ["defier"])
    with clock(datetime(2027, 1, 1, 8)):
        first = make_subject("defier", site, date(2026, 11, 1))
        record_visit_date(first.visits[0], date(2026, 11, 1))
        db.session.commit()
        login(make_user("c@example.org", [("defier", site, Role.COORDINATOR)]))
        page = client.get("/studies/defier/sites/SH01").get_data(as_text=True)
    row = page[page.index("DEF-SH01-0001</a>") :]
    row = row[: row.index("</tr>")]
    assert "1 month" in row and "2026-11-24 – 2026-12-08" in row and 'data-status="overdue"' in row


@pytest.mark.parametrize("url", ["/", "/studies/defier/sites/SH01"])
def test_query_count_does_not_grow_with_the_number_of_subjects(url, make_site, make_user, make_subject, login, client, count_queries):
    site = make_site("SH01", ["defier"])
    login(make_user("c@example.org", [("defier", site, Role.COORDINATOR)]))
    today = date.today()

    def enrol(n: int) -> None:
        for i in range(n):
            subject = make_subject("defier", site, today - timedelta(days=(i * 7) % 720), arm="des" if i % 2 else "dcb")
            one_month = subject.visits[1]
            if i % 3 == 0 and one_month.window_start <= today:
                record_visit_date(one_month, one_month.window_start)
        db.session.commit()

    def queries() -> int:
        db.session.expire_all()
        with count_queries() as statements:
            response = client.get(url)
        assert response.status_code == 200
        return len(statements)

    enrol(10)
    with_10 = queries()
    enrol(190)
    with_200 = queries()
    assert with_10 == with_200, f"{url}: {with_10} queries with 10 subjects, {with_200} with 200"


def test_each_worklist_section_shows_the_most_urgent_and_counts_all(app, make_site, make_user, make_subject, login, client, clock, monkeypatch):
    monkeypatch.setitem(app.config, "ECRF_WORKLIST_LIMIT", 3)
    site = make_site("SH01", ["defier"])
    with clock(datetime(2027, 1, 1, 8)):
        for days_ago in (60, 50, 45, 70, 65):  # five overdue 1-month visits
            make_subject("defier", site, date(2027, 1, 1) - timedelta(days=days_ago))
        login(make_user("c@example.org", [("defier", site, Role.COORDINATOR)]))
        page = client.get("/").get_data(as_text=True)
    overdue = _section(page, "overdue")
    assert overdue.count("days overdue") == 3
    assert "DEF-SH01-0004" in overdue and "DEF-SH01-0005" in overdue and "DEF-SH01-0001" in overdue  # the oldest windows first
    assert "Showing the 3 most urgent of 5." in page


def test_withdrawal_drops_later_visits_but_keeps_one_already_overdue(make_site, make_user, make_subject, login, client, clock):
    from ecrf.subjects.models import SubjectStatus

    site = make_site("SH01", ["defier"])
    with clock(datetime(2027, 1, 1, 8)):
        subject = make_subject("defier", site, date(2026, 10, 1))  # m1 closed 2026-11-07; m3 open from 2026-12-16
        subject.status, subject.status_date = SubjectStatus.WITHDRAWN, date(2026, 12, 1)
        db.session.commit()
        login(make_user("c@example.org", [("defier", site, Role.COORDINATOR)]))
        page = client.get("/").get_data(as_text=True)
    assert "1 month" in _section(page, "overdue")
    assert "DEF-SH01-0001" not in _section(page, "open")
