"""The nightly pass: for each site whose local morning has come, flags raised and resolved; then each
user's digest once their own morning has come; then the outbox is sent.

It runs once per site-local date (a `NightlyRun` row says so) and is safe to call as often
as the scheduler likes: after downtime it catches up with one pass, never one per missed
night. It is a job, not a request: it commits (or, for a dry run, rolls everything back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy import exists, func, select

from ecrf.auth.models import Membership, User
from ecrf.clock import local_today, now_utc, to_local
from ecrf.exports.jobs import expire_exports
from ecrf.extensions import db
from ecrf.notify.digest import build_digest, home_site, render
from ecrf.notify.models import NightlyRun, OutboxEmail
from ecrf.notify.outbox import outbox_key, queue, send_due
from ecrf.safety.models import Flag, FlagStatus
from ecrf.safety.services import refresh_site_flags
from ecrf.studies.models import Site
from ecrf.submissions.services import forget_old_keys


@dataclass
class NightlyReport:
    """What one pass did (the JSON of `flask ecrf nightly`)."""

    date: str
    sites: int = 0
    overdue_visits: int = 0
    new_flags: int = 0
    emails_queued: int = 0
    emails_sent: int = 0
    emails_failed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _morning_has_come(site: Site, now: datetime) -> bool:
    return to_local(now, site.timezone).hour >= site.morning_hour


def run_nightly(now: datetime | None = None, *, on_date: date | None = None, dry_run: bool = False) -> NightlyReport:
    """One pass. With `on_date`, every site and user is passed for that local date, whatever the hour."""
    now = now or now_utc()
    report = NightlyReport(date=(on_date or now.date()).isoformat())
    for site in db.session.scalars(select(Site).order_by(Site.code)).all():
        day = on_date or local_today(site.timezone, now)
        if on_date is None and (not _morning_has_come(site, now) or _ran(site, day)):
            continue
        _site_pass(site, day, now, report)
    for user in db.session.scalars(select(User).where(User.active.is_(True), exists().where(Membership.user_id == User.id)).order_by(User.id)).all():
        _digest(user, now, on_date, report)
    forget_old_keys(now)
    expire_exports(now)  # finished export files older than ECRF_EXPORT_KEEP_DAYS
    if dry_run:
        db.session.rollback()
        return report
    db.session.commit()
    report.emails_sent, report.emails_failed = send_due(now)
    return report


def _ran(site: Site, day: date) -> bool:
    return bool(db.session.scalar(select(exists().where(NightlyRun.site_id == site.id, NightlyRun.local_date == day))))


def _site_pass(site: Site, day: date, now: datetime, report: NightlyReport) -> None:
    report.new_flags += len(refresh_site_flags(site, day, now))
    report.overdue_visits += (
        db.session.scalar(select(func.count(Flag.id)).where(Flag.site_id == site.id, Flag.kind == "visit_overdue", Flag.status == FlagStatus.OPEN)) or 0
    )
    if not _ran(site, day):
        db.session.add(NightlyRun(site_id=site.id, local_date=day, ran_at=now))
    db.session.flush()
    report.sites += 1


def _digest(user: User, now: datetime, on_date: date | None, report: NightlyReport) -> None:
    """The user's digest for their local date, once their morning has come (their first site's clock)."""
    home = home_site(user)
    if home is None or (on_date is None and not _morning_has_come(home, now)):
        return
    day = on_date or local_today(home.timezone, now)
    if db.session.scalar(select(OutboxEmail.id).where(OutboxEmail.key == outbox_key("digest", user, day))) is not None:
        return
    digest = build_digest(user, now)
    if digest is None:
        return  # nothing to say: no email
    subject, text, html = render(digest, day)
    if queue("digest", user, day, subject, text, html, now) is not None:
        report.emails_queued += 1
