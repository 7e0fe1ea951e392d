"""The digest's words and links: a subject line whose counts agree with their nouns, links from the configured
address of the app, and each user's preview of tomorrow's email on their account page."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from ecrf.auth.models import Role, User
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.extensions import db
from ecrf.notify.digest import build_digest, counted, subject_line
from ecrf.notify.nightly import run_nightly
from ecrf.queries.services import raise_query
from tests.test_nightly import at


@pytest.mark.parametrize(
    ("n", "one", "several", "words"),
    [(0, "flag", "flags", "0 flags"), (1, "flag", "flags", "1 flag"), (2, "flag", "flags", "2 flags"), (1, "query", "queries", "1 query")],
)
def test_a_count_agrees_with_its_noun(n, one, several, words):
    assert counted(n, one, several) == words


@pytest.fixture
def site_with_one_of_each(make_site, make_user, make_subject, clock):
    """SH01 with a coordinator and one DEFIER subject: one overdue visit and one open query on 2027-03-10."""
    site = make_site("SH01", ["defier"])
    make_user("sh@example.org", [("defier", site, Role.COORDINATOR)], name="Coordinator Shanghai")
    monitor = make_user("monitor@example.org", [("defier", site, Role.MONITOR)])
    with clock(at("2027-01-05T02:00")):
        subject = make_subject("defier", site, date(2027, 1, 5), arm="des")
        entry = CrfEntry(subject_id=subject.id, visit_id=subject.visits[0].id, instrument="abi", status=EntryStatus.COMPLETE)
        db.session.add(entry)
        db.session.flush()
        raise_query(entry, "pt_right", "Source says 120?", monitor)
    db.session.commit()
    return site


def test_the_subject_line_says_1_overdue_visit_and_1_query_not_1_queries(site_with_one_of_each, clock, smtp_server):
    with clock(at("2027-03-10T00:30")):
        run_nightly()
    (message,) = smtp_server.to("sh@example.org")
    assert message["Subject"] == "eCRF 2027-03-10: 1 overdue visit, 1 query"


def test_the_digests_links_start_with_the_configured_address_of_the_app(app, site_with_one_of_each, clock, smtp_server, monkeypatch):
    monkeypatch.setitem(app.config, "ECRF_BASE_URL", "https://ecrf.example.org/trials/")
    with clock(at("2027-03-10T00:30")):
        run_nightly()
    (message,) = smtp_server.to("sh@example.org")
    text, html = (message.get_body((kind,)).get_content() for kind in ("plain", "html"))
    assert "https://ecrf.example.org/trials/subjects/DEF-SH01-0001/visits/m1" in text
    assert '<a href="https://ecrf.example.org/trials/subjects/DEF-SH01-0001/visits/m1">' in html
    assert "127.0.0.1" not in text + html


def test_a_user_previews_tomorrows_digest_on_their_account_page(site_with_one_of_each, login, clock):
    coordinator = db.session.scalar(select(User).where(User.email == "sh@example.org"))
    with clock(at("2027-03-10T00:30")):  # 08:30 in Shanghai on 2027-03-10
        client = login(coordinator)
        assert "Preview tomorrow's daily email" in client.get("/account").get_data(as_text=True)
        page = client.get("/account/digest").get_data(as_text=True)
    assert "Your daily email: 2027-03-11" in page
    assert "<strong>Subject:</strong> eCRF 2027-03-11: 1 overdue visit, 1 query" in page
    assert '<a href="http://127.0.0.1:5000/subjects/DEF-SH01-0001/visits/m1">DEF-SH01-0001, 1 month</a>' in page
    assert "DES" not in page.split("digest-preview")[1]  # the content carries no arm


def test_a_user_with_nothing_waiting_is_told_no_email_would_go_out(make_site, make_user, login, clock):
    site = make_site("BJ01", ["defier"])
    quiet = make_user("quiet@example.org", [("defier", site, Role.COORDINATOR)])
    with clock(datetime(2027, 3, 10, 0, 30, tzinfo=UTC)):
        page = login(quiet).get("/account/digest").get_data(as_text=True)
    assert "Nothing to send" in page and "Subject:" not in page


def test_the_subject_line_function_is_the_one_the_email_uses(site_with_one_of_each, clock, smtp_server):
    coordinator = db.session.scalar(select(User).where(User.email == "sh@example.org"))
    with clock(at("2027-03-10T00:30")):
        digest = build_digest(coordinator, at("2027-03-10T00:30"))
        run_nightly()
    (message,) = smtp_server.to("sh@example.org")
    assert message["Subject"] == subject_line(digest, date(2027, 3, 10))
