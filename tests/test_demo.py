"""`flask ecrf demo`: synthetic sites, users and subjects for all five studies; idempotent."""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ecrf.auth.models import Membership, Role, User
from ecrf.clock import site_today
from ecrf.extensions import db
from ecrf.studies.models import Site, Study
from ecrf.subjects.models import Subject
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus
from tests.conftest import post_form


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_demo_creates_about_200_subjects_in_all_five_studies_and_is_idempotent(cli):
    first = cli.invoke(args=["ecrf", "demo"])
    assert first.exit_code == 0, first.output
    assert "200 subjects created" in first.output and "coordinator@example.org" in first.output and "demo-password" in first.output
    counts = (_count(Site), _count(User), _count(Membership), _count(Subject), _count(Visit))
    per_study = Counter(db.session.scalars(select(Study.code).join(Subject, Subject.study_id == Study.id)))
    assert set(per_study) == {"defier", "angel-icas", "leg-deb", "defiance", "precise-cal"}
    again = cli.invoke(args=["ecrf", "demo"])
    assert again.exit_code == 0 and "0 sites, 0 users and 0 subjects created" in again.output
    assert (_count(Site), _count(User), _count(Membership), _count(Subject), _count(Visit)) == counts


def test_demo_sites_have_real_time_zones_and_one_user_per_role(cli):
    cli.invoke(args=["ecrf", "demo"])
    zones = set(db.session.scalars(select(Site.timezone)))
    assert {"Asia/Shanghai", "America/New_York", "America/Phoenix", "America/Los_Angeles", "Europe/Berlin", "Europe/Rome"} <= zones
    assert all(ZoneInfo(zone) for zone in zones)
    roles = set(db.session.scalars(select(Membership.role)))
    assert roles == set(Role)


def test_demo_subjects_span_two_years_with_done_open_and_overdue_visits(cli):
    cli.invoke(args=["ecrf", "demo"])
    subjects = db.session.scalars(select(Subject)).all()
    ages = [(site_today(s.site) - s.index_date).days for s in subjects]
    assert min(ages) >= 0 and max(ages) <= 730 and max(ages) - min(ages) > 600
    statuses = Counter(visit.status(site_today(s.site)) for s in subjects for visit in s.visits)
    for status in (WindowStatus.COMPLETED_IN_WINDOW, WindowStatus.OPEN, WindowStatus.OVERDUE, WindowStatus.NOT_YET_OPEN):
        assert statuses[status] > 0, statuses
    assert all(s.arm is not None for s in subjects)


def test_demo_coordinator_sees_subjects_of_all_five_studies(cli, client):
    cli.invoke(args=["ecrf", "demo"])
    assert not any(db.session.scalars(select(User.must_change_password)))  # the printed password works as it is
    response = post_form(client, "/login", {"email": "coordinator@example.org", "password": "demo-password"})
    assert response.status_code == 302 and response.location == "/"
    studies = client.get("/studies/").get_data(as_text=True)
    for title in ("DEFIER", "ANGEL-ICAS", "LEG-DEB", "DEFIANCE", "PRECISE CAL"):
        assert title in studies
    assert client.get("/studies/defiance/sites/DE01").status_code == 200
    assert client.get("/studies/defiance/sites/US02").status_code == 404  # not one of her sites
