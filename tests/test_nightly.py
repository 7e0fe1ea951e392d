"""The nightly pass, the digest and its outbox: after each site's own morning, once, never lost, never twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ecrf.auth.models import Role
from ecrf.extensions import db
from ecrf.notify.models import NightlyRun, OutboxEmail, OutboxStatus
from ecrf.notify.nightly import run_nightly
from ecrf.notify.outbox import BACKOFF
from ecrf.safety.models import Flag

UTC = UTC


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def shanghai(make_site, make_user, make_subject, clock):
    """SH01 (Asia/Shanghai) with a coordinator and a DEFIER subject whose 1-month visit is overdue on 2027-03-10."""
    site = make_site("SH01", ["defier", "angel-icas"])
    make_user("sh@example.org", [("defier", site, Role.COORDINATOR), ("angel-icas", site, Role.COORDINATOR)], name="Coordinator Shanghai")
    with clock(at("2027-01-05T02:00")):
        make_subject("defier", site, date(2027, 1, 5), arm="des")  # m1 window 2027-01-28 .. 2027-02-11
    return site


# -- the pass ----------------------------------------------------------------------------------------


def test_the_pass_prints_one_json_object_with_its_counts(cli, shanghai, clock):
    with clock(at("2027-03-10T00:30")):  # 08:30 in Shanghai
        result = cli.invoke(args=["ecrf", "nightly"])
    report = json.loads(result.output)
    assert list(report) == ["date", "sites", "overdue_visits", "new_flags", "emails_queued", "emails_sent", "emails_failed"]
    assert (report["sites"], report["overdue_visits"], report["emails_queued"]) == (1, 1, 1)


def test_a_site_is_passed_once_its_morning_has_come_and_once_a_day(shanghai, clock):
    with clock(at("2027-03-09T21:59")):  # 05:59 in Shanghai
        assert run_nightly().sites == 0
    with clock(at("2027-03-09T22:00")):  # 06:00
        assert run_nightly().sites == 1
    with clock(at("2027-03-10T03:00")):
        assert run_nightly().sites == 0
    shanghai.morning_hour = 7
    db.session.commit()
    with clock(at("2027-03-10T22:30")):  # 06:30 on 11 March: before this site's 07:00
        assert run_nightly().sites == 0


def test_after_downtime_one_pass_catches_up_not_one_per_missed_night(shanghai, clock):
    with clock(at("2027-03-01T00:00")):
        run_nightly()
    with clock(at("2027-03-06T01:00")):  # five nights missed
        report = run_nightly()
    assert report.sites == 1
    assert db.session.scalars(select(NightlyRun.local_date).order_by(NightlyRun.local_date)).all() == [date(2027, 3, 1), date(2027, 3, 6)]
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 2


def test_date_passes_that_day_and_dry_run_changes_and_sends_nothing(cli, shanghai, clock, smtp_server):
    with clock(at("2027-03-09T12:00")):  # 20:00 in Shanghai on the 9th; the pass is asked for the 10th
        report = json.loads(cli.invoke(args=["ecrf", "nightly", "--date", "2027-03-10", "--dry-run"]).output)
    assert report["date"] == "2027-03-10" and report["emails_queued"] == 1 and report["emails_sent"] == 0
    assert db.session.scalar(select(func.count(Flag.id))) == 0 and db.session.scalar(select(func.count(OutboxEmail.id))) == 0
    assert smtp_server.messages == []
    bad = cli.invoke(args=["ecrf", "nightly", "--date", "2027-02-30"])
    assert bad.exit_code != 0 and bad.output.strip() == "Error: --date: '2027-02-30' is not a date; use YYYY-MM-DD"


# -- the digest, delivered by a real SMTP server -----------------------------------------------------------


def test_the_digest_is_delivered_with_what_is_overdue_grouped_and_linked_and_no_names(shanghai, clock, smtp_server, make_subject):
    with clock(at("2027-03-08T02:00")):
        make_subject("defier", shanghai, date(2027, 2, 12), arm="dcb")  # m1 window open on 2027-03-10: not "opening"
        make_subject("defier", shanghai, date(2027, 2, 20), arm="dcb")  # m1 window opens 2027-03-15: within 7 days
    with clock(at("2027-03-10T00:30")):
        report = run_nightly()
    assert report.emails_sent == 1
    (message,) = smtp_server.to("sh@example.org")
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert message["Subject"].startswith("eCRF 2027-03-10: 1 overdue visit")
    assert "== DEFIER at SH01 ==" in text
    assert "- DEF-SH01-0001, 1 month: window ended 2027-02-11, 27 days overdue" in text
    assert "http://127.0.0.1:5000/subjects/DEF-SH01-0001/visits/m1" in text
    assert "DEF-SH01-0003, 1 month: opens 2027-03-15" in text
    assert '<a href="http://127.0.0.1:5000/subjects/DEF-SH01-0001/visits/m1">' in html
    assert "DES" not in text and "DCB" not in text  # no arms; and subjects are IDs only


def test_no_email_when_there_is_nothing_to_say(make_site, make_user, clock, smtp_server):
    site = make_site("BJ01", ["defier"])
    make_user("quiet@example.org", [("defier", site, Role.COORDINATOR)])
    with clock(at("2027-03-10T00:30")):
        report = run_nightly()
    assert (report.emails_queued, smtp_server.messages) == (0, [])


def test_a_rerun_on_the_same_day_sends_nothing_twice(shanghai, clock, smtp_server):
    for moment in ("2027-03-10T00:30", "2027-03-10T05:00", "2027-03-10T15:59"):
        with clock(at(moment)):
            run_nightly(on_date=date(2027, 3, 10) if moment.endswith("05:00") else None)
    assert len(smtp_server.to("sh@example.org")) == 1


def test_mail_server_down_then_back_delivers_once_with_back_off(shanghai, clock, smtp_server):
    smtp_server.stop()
    with clock(at("2027-03-10T00:30")):
        report = run_nightly()
    email = db.session.scalar(select(OutboxEmail))
    assert (report.emails_queued, report.emails_sent, email.status, email.attempts) == (1, 0, OutboxStatus.QUEUED, 1)
    assert "Connection refused" in email.last_error and email.next_attempt_at == at("2027-03-10T00:30") + BACKOFF[0]
    with clock(at("2027-03-10T00:30:30")):
        run_nightly()  # not yet time to try again
    db.session.refresh(email)
    assert email.attempts == 1
    smtp_server.start()
    with clock(at("2027-03-10T00:32")):
        assert run_nightly().emails_sent == 1
    with clock(at("2027-03-10T03:00")):
        run_nightly()
    assert len(smtp_server.to("sh@example.org")) == 1
    db.session.refresh(email)
    assert email.status is OutboxStatus.SENT


def test_an_email_that_never_gets_through_is_marked_failed_and_shown_to_the_admin(shanghai, clock, smtp_server, make_user, login, client):
    smtp_server.stop()
    moment = at("2027-03-10T00:30")
    for _ in range(len(BACKOFF) + 1):
        with clock(moment):
            run_nightly()
        moment += timedelta(hours=4)
    email = db.session.scalar(select(OutboxEmail))
    assert (email.status, email.attempts) == (OutboxStatus.FAILED, len(BACKOFF) + 1)
    login(make_user("admin@example.org", [("defier", shanghai, Role.ADMIN)]))
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert "sh@example.org" in page and "Connection refused" in page


def test_the_blinded_assessors_digest_never_shows_an_arm(shanghai, make_user, make_subject, clock, smtp_server):
    make_user("assessor@example.org", [("angel-icas", shanghai, Role.BLINDED_ASSESSOR)])
    with clock(at("2026-12-01T02:00")):
        for arm in ("balloon", "stent"):
            make_subject("angel-icas", shanghai, date(2026, 12, 1), arm=arm)  # d90 window 2027-02-21 .. 2027-03-07
    with clock(at("2027-03-10T00:30")):
        run_nightly()
    (message,) = smtp_server.to("assessor@example.org")
    body = message.get_body(("plain",)).get_content() + message.get_body(("html",)).get_content()
    assert "90 days" in body and "AIC-SH01-0001" in body
    assert "Day 7" not in body  # only the visits with assessor forms
    for word in ("balloon", "stent"):
        assert word not in body.lower()


# -- time zones and daylight saving -------------------------------------------------------------------

SITES = [("SH01", "Asia/Shanghai"), ("US01", "America/New_York"), ("US02", "America/Phoenix"), ("DE01", "Europe/Berlin")]
#: (site, day, the UTC instant of 06:00 local that day)
MORNINGS = [
    ("SH01", "2027-03-14", "2027-03-13T22:00"),
    ("US01", "2027-03-14", "2027-03-14T10:00"),  # New York: summer time from 02:00
    ("US02", "2027-03-14", "2027-03-14T13:00"),
    ("DE01", "2027-03-14", "2027-03-14T05:00"),
    ("SH01", "2027-03-28", "2027-03-27T22:00"),
    ("US01", "2027-03-28", "2027-03-28T10:00"),
    ("US02", "2027-03-28", "2027-03-28T13:00"),
    ("DE01", "2027-03-28", "2027-03-28T04:00"),  # Berlin: summer time from 02:00
]


@pytest.fixture
def four_sites(make_site, make_user, make_subject, clock):
    sites = {code: make_site(code, ["defiance"], tz, "XX") for code, tz in SITES}
    for code, site in sites.items():
        make_user(f"{code.lower()}@example.org", [("defiance", site, Role.COORDINATOR)])
        with clock(at("2027-01-10T12:00")):
            make_subject("defiance", site, date(2027, 1, 10))  # d30 overdue from 2027-02-17 on
    return sites


@pytest.mark.parametrize(("code", "day", "morning"), MORNINGS)
def test_each_site_gets_its_digest_after_its_own_0600_on_the_clock_change_days(four_sites, clock, code, day, morning):
    six = at(morning)
    key = f"{code.lower()}@example.org"
    with clock(six - timedelta(minutes=1)):
        run_nightly()
    assert not db.session.scalar(select(OutboxEmail).where(OutboxEmail.recipient == key, OutboxEmail.local_date == date.fromisoformat(day)))
    with clock(six):
        run_nightly()
    assert db.session.scalar(select(OutboxEmail).where(OutboxEmail.recipient == key, OutboxEmail.local_date == date.fromisoformat(day)))


# -- one scheduler ------------------------------------------------------------------------------------------


@pytest.mark.commits
def test_two_scheduler_processes_send_each_email_once(app, make_site, make_user, make_subject, smtp_server):
    """Two `flask ecrf scheduler --run-once` processes at once, on the same database and mail server, now."""
    from ecrf.clock import site_today

    site = make_site("SH01", ["defier"])
    site.morning_hour = 0  # the site's morning has come, whatever the time of this run
    for email in ("one@example.org", "two@example.org"):
        make_user(email, [("defier", site, Role.COORDINATOR)])
    make_subject("defier", site, site_today(site) - timedelta(days=60), arm="des")  # the 1-month visit is overdue
    db.session.commit()
    env = {**os.environ, "ECRF_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_server.port)}
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "flask", "--app", "app", "ecrf", "scheduler", "--run-once"]
    processes = [subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    assert len(smtp_server.to("one@example.org")) == 1 and len(smtp_server.to("two@example.org")) == 1


@pytest.mark.commits
def test_the_job_store_lives_in_the_apps_database(app):
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(jobstores={"default": SQLAlchemyJobStore(engine=db.engine, tablename="apscheduler_jobs")}, timezone=UTC)
    scheduler.start(paused=True)
    try:
        scheduler.add_job("ecrf.scheduler:nightly_job", "interval", minutes=5, id="nightly", replace_existing=True)
        stored = db.session.execute(db.text("SELECT id FROM apscheduler_jobs")).scalars().all()
        assert stored == ["nightly"]
    finally:
        scheduler.remove_all_jobs()
        scheduler.shutdown(wait=False)


@pytest.mark.commits
def test_the_web_app_never_starts_the_scheduler(client):
    import threading

    import ecrf.scheduler

    client.get("/login")
    assert ecrf.scheduler._app is None
    assert not any("APScheduler" in thread.name for thread in threading.enumerate())


def test_a_4xx_answer_is_retried_and_a_5xx_answer_fails_at_once(shanghai, make_user, clock, smtp_server):
    smtp_server.reply = "451 4.3.0 Try again later"
    with clock(at("2027-03-10T00:30")):
        run_nightly()
    email = db.session.scalar(select(OutboxEmail))
    assert (email.status, email.attempts) == (OutboxStatus.QUEUED, 1) and "451" in email.last_error
    smtp_server.reply = "250 OK"
    with clock(at("2027-03-10T00:31")):
        assert run_nightly().emails_sent == 1
    make_user("other@example.org", [("defier", shanghai, Role.COORDINATOR)])
    smtp_server.reply = "550 5.1.1 No such mailbox"
    with clock(at("2027-03-11T00:30")):
        report = run_nightly()
    failed = db.session.scalars(select(OutboxEmail).where(OutboxEmail.status == OutboxStatus.FAILED)).all()
    assert report.emails_failed == 2 and {e.recipient for e in failed} == {"sh@example.org", "other@example.org"}
    assert all(e.attempts == 1 and "550" in e.last_error for e in failed)
