"""The scheduler: APScheduler 3.x in one dedicated process (`flask ecrf scheduler`), its job store in
the app's database. Web workers never start it. The nightly job holds a database lease, so a second
scheduler started by mistake runs nothing; the outbox's keys make a second email impossible anyway.
A second job sends the outbox's due emails every minute (a password reset link should not wait for
the next nightly run); it needs no lease, since the sender claims each email before sending it.
A third job, every minute, runs the exports started in the browser that no web process took (see `ecrf.exports.jobs`:
the web processes run them in threads; this is for a job left queued, e.g. by a restart); each job is taken by one
conditional UPDATE, so it needs no lease either.
A fourth job, every hour, deletes the API's stored answers to repeated writes once they are a day old
(`ecrf.api.jobs`); deleting twice is harmless, so it needs no lease.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, timedelta

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from ecrf.api.jobs import purge_idempotent_answers
from ecrf.clock import now_utc
from ecrf.exports.jobs import run_waiting
from ecrf.extensions import db
from ecrf.notify.lease import acquire, release
from ecrf.notify.nightly import NightlyReport, run_nightly
from ecrf.notify.outbox import send_due

LEASE = "nightly"
#: The job runs this often; each run passes the sites and users whose morning has come.
EVERY = timedelta(minutes=5)
#: The outbox job runs this often, so that an email (a reset link, a lock notice) leaves within about a minute.
OUTBOX_EVERY = timedelta(minutes=1)
#: The purge of the API's stored answers runs this often (they are kept a day: `ecrf.api.jobs.IDEMPOTENCY_RETENTION`).
PURGE_EVERY = timedelta(hours=1)
#: The lease outlives two missed runs; a dead scheduler's lease then passes to another.
LEASE_TTL = timedelta(minutes=15)
HOLDER = f"{socket.gethostname()}:{os.getpid()}"
log = logging.getLogger("ecrf.scheduler")

_app: Flask | None = None


def nightly_job() -> NightlyReport | None:
    """The scheduled job: the nightly pass, if this process holds the lease."""
    assert _app is not None, "run_once or run_forever sets the app first"
    with _app.app_context():
        if not acquire(LEASE, HOLDER, LEASE_TTL, now_utc()):
            log.info("lease held by another scheduler: nothing to do")
            return None
        report = run_nightly()
        log.info("nightly pass: %s", report.as_dict())
        return report


def outbox_job() -> tuple[int, int]:
    """The scheduled job every minute: send the outbox's due emails; returns (sent, failed for good)."""
    assert _app is not None, "run_once or run_forever sets the app first"
    with _app.app_context():
        try:
            sent, failed = send_due(now_utc())
        finally:
            db.session.remove()
        if sent or failed:
            log.info("outbox: %d sent, %d failed", sent, failed)
        return sent, failed


def exports_job() -> int:
    """The scheduled job every minute: run the exports left queued, mark those interrupted; returns the jobs run."""
    assert _app is not None, "run_once or run_forever sets the app first"
    with _app.app_context():
        try:
            ran = run_waiting(now_utc())
        finally:
            db.session.remove()
        if ran:
            log.info("exports: %d queued jobs run", ran)
        return ran


def idempotency_job() -> int:
    """The scheduled job every hour: delete the API's stored answers past their retention; returns how many."""
    assert _app is not None, "run_once or run_forever sets the app first"
    with _app.app_context():
        try:
            purged = purge_idempotent_answers(now_utc())
        finally:
            db.session.remove()
        if purged:
            log.info("api: %d stored answers purged", purged)
        return purged


def add_jobs(scheduler) -> None:
    """Register the jobs: the nightly pass every few minutes, the outbox and waiting exports every minute, the purge of
    the API's stored answers every hour (all start at once)."""
    for job, every in (("nightly", EVERY), ("outbox", OUTBOX_EVERY), ("exports", OUTBOX_EVERY), ("idempotency", PURGE_EVERY)):
        scheduler.add_job(f"ecrf.scheduler:{job}_job", "interval", seconds=int(every.total_seconds()), id=job, replace_existing=True, next_run_time=now_utc())


def run_once(app: Flask) -> NightlyReport | None:
    """One run of the job now, then give the lease up (for a manual run or a test)."""
    global _app
    _app = app
    try:
        return nightly_job()
    finally:
        with app.app_context():
            release(LEASE, HOLDER, now_utc())
            db.session.remove()


def run_forever(app: Flask) -> None:
    """Start the blocking scheduler with the four jobs of `add_jobs`: the nightly pass every few minutes, the outbox and
    the waiting exports every minute, the purge of the API's stored idempotent answers every hour."""
    global _app
    _app = app
    with app.app_context():
        engine = db.engine
    scheduler = BlockingScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    add_jobs(scheduler)
    log.info("scheduler %s started", HOLDER)
    scheduler.start()
