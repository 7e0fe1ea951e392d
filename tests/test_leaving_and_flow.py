"""Leaving the study (withdrawal, loss to follow-up, death), completing it, and the study flow counts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry
from ecrf.extensions import db
from ecrf.screening.services import enrol_from_screening
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.services import record_visit_date
from ecrf.visits.windows import WindowStatus
from tests.conftest import post_form

NOW = datetime(2027, 1, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "leg-deb"])


@pytest.fixture
def coordinator(make_user, site, login):
    return login(make_user("c@example.org", [("defier", site, Role.COORDINATOR), ("leg-deb", site, Role.COORDINATOR)]))


def _statuses(subject) -> dict[str, WindowStatus]:
    return {v.definition.code: v.status(date(2027, 1, 1)) for v in subject.visits}


def test_withdrawal_records_date_and_reason_and_later_visits_no_longer_apply(coordinator, make_subject, site):
    subject = make_subject("defier", site, date(2026, 9, 1), arm="dcb")  # m1 window closed 2026-10-08, m3 open 2026-11-16..12-14
    post_form(coordinator, f"/subjects/{subject.subject_code}/visits/baseline/forms/rutherford", {"limb": "left", "category": "3", "action": "complete"})
    entries_before = db.session.scalars(select(CrfEntry.id)).all()
    response = post_form(
        coordinator,
        f"/subjects/{subject.subject_code}/status",
        {"status": "withdrawn", "status_date": "2026-11-20", "reason": "Withdrew consent"},
        follow_redirects=True,
    )
    assert "withdrawn on 2026-11-20; later visits no longer apply" in response.get_data(as_text=True)
    db.session.refresh(subject)
    assert (subject.status, subject.status_date, subject.status_reason) == (SubjectStatus.WITHDRAWN, date(2026, 11, 20), "Withdrew consent")
    statuses = _statuses(subject)
    assert statuses["m1"] is WindowStatus.OVERDUE  # already due before: still to be answered
    assert statuses["m3"] is WindowStatus.NOT_APPLICABLE and statuses["m24"] is WindowStatus.NOT_APPLICABLE
    assert db.session.scalars(select(CrfEntry.id)).all() == entries_before  # nothing entered changes
    worklist = coordinator.get("/").get_data(as_text=True)
    assert "3 months" not in worklist and "1 month" in worklist


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "died", "status_date": "2027-01-02", "reason": "x"}, "Date: must not be after today at the site (2027-01-01)."),
        ({"status": "died", "status_date": "2026-08-01", "reason": "x"}, "Date: must not be before the informed consent date (2026-09-01)."),
        ({"status": "lost_to_follow_up", "status_date": "2026-12-01", "reason": " "}, "Reason: required; say why (no names)."),
        ({"status": "completed", "status_date": "2026-12-01", "reason": "x"}, "Status: choose withdrawn, lost to follow-up or died."),
        ({"status_date": "2026-12-01", "reason": "x"}, "Leaves the study because: required; choose withdrawn, lost to follow-up or died."),
    ],
)
def test_bad_leaving_input_is_refused_and_changes_nothing(coordinator, make_subject, site, data, message):
    subject = make_subject("defier", site, date(2026, 9, 1), arm="dcb")
    page = post_form(coordinator, f"/subjects/{subject.subject_code}/status", data).get_data(as_text=True)
    assert message in page
    db.session.refresh(subject)
    assert subject.status is SubjectStatus.ACTIVE


def test_the_last_visit_completes_the_follow_up(make_subject, site):
    subject = make_subject("leg-deb", site, date(2026, 6, 1))
    record_visit_date(subject.visits[-1], date(2026, 11, 30))
    assert (subject.status, subject.status_date) == (SubjectStatus.COMPLETED, date(2026, 11, 30))


def test_the_flow_page_counts_what_a_consort_diagram_needs(coordinator, make_screening, site, make_subject):
    for _ in range(3):
        enrol_from_screening(make_screening("defier", site), consent_date=date(2026, 12, 1), index_date=date(2026, 12, 1), arm_code="des")
    enrol_from_screening(make_screening("defier", site), consent_date=date(2026, 12, 1), index_date=date(2026, 12, 1), arm_code="dcb")
    make_screening("defier", site, numbers={"age_years": Decimal(17)})
    make_screening("defier", site, numbers={"age_years": Decimal(16), "rutherford": Decimal(6)})
    db.session.commit()
    subject = db.session.scalars(select(Subject).order_by(Subject.id)).first()
    post_form(coordinator, f"/subjects/{subject.subject_code}/status", {"status": "died", "status_date": "2026-12-20", "reason": "Synthetic"})
    page = coordinator.get("/studies/defier/flow").get_data(as_text=True)
    row = re.search(r'data-site="SH01">(.*?)</tr>', page, re.S).group(1)
    counts = dict(re.findall(r'data-count="([^"]+)">(\d+)<', row))
    assert counts["screened"] == "6" and counts["screen_failures"] == "2" and counts["enrolled"] == "4"
    assert counts["arm-DES"] == "3" and counts["arm-DCB"] == "1" and counts["died"] == "1" and counts["active"] == "3"
    failures = dict(re.findall(r'data-criterion="([^"]+)"><td>[^<]*</td><td>(\d+)</td>', page))
    assert failures == {"age": "2", "rutherford": "1", "rutherford_0_or_6": "1"}
