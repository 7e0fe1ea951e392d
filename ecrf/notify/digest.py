"""The daily digest: what needs doing, for one user, from the same builder as their worklist."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app, render_template
from markupsafe import Markup
from sqlalchemy import select

from ecrf.auth.models import Membership, User
from ecrf.clock import local_today, to_local
from ecrf.extensions import db
from ecrf.studies.models import Site
from ecrf.worklist.services import Worklist, build_worklist

#: Windows opening within this many days are in the digest.
OPENING_DAYS = 7
#: At most this many items of each kind per digest (the rest is counted).
DIGEST_LIMIT = 200


@dataclass
class Group:
    """One study at one site in a digest."""

    study: str
    site: str
    overdue: list = field(default_factory=list)
    opening: list = field(default_factory=list)
    flags: list = field(default_factory=list)
    sae_clocks: list = field(default_factory=list)
    queries: list = field(default_factory=list)


@dataclass
class Digest:
    """A user's digest for one local date."""

    user: User
    worklist: Worklist
    groups: list[Group]
    now: datetime

    @property
    def counts(self) -> dict[str, int]:
        w = self.worklist
        return {"overdue": w.overdue.total, "opening": w.opening.total, "flags": len(w.flags), "sae": len(w.sae_clocks), "queries": len(w.queries)}


def home_site(user: User) -> Site | None:
    """The site whose time zone and morning hour time the user's digest: the first of their sites by code."""
    return db.session.scalar(select(Site).join(Membership, Membership.site_id == Site.id).where(Membership.user_id == user.id).order_by(Site.code).limit(1))


def build_digest(user: User, now: datetime) -> Digest | None:
    """The user's digest, grouped by study and site; None when there is nothing to say."""
    worklist = build_worklist(user, OPENING_DAYS, DIGEST_LIMIT)
    groups: dict[tuple[str, str], Group] = {}

    def group(subject) -> Group:
        key = (subject.study.short_title, subject.site.code)
        return groups.setdefault(key, Group(*key))

    for item in worklist.overdue.items:
        group(item.visit.subject).overdue.append(item)
    for item in worklist.opening.items:
        group(item.visit.subject).opening.append(item)
    for flag in worklist.flags:
        group(flag.subject).flags.append(flag)
    for clock in worklist.sae_clocks:
        group(clock.entry.subject).sae_clocks.append(clock)
    for query in worklist.queries:
        group(query.entry.subject).queries.append(query)
    if not groups:
        return None
    return Digest(user, worklist, [groups[key] for key in sorted(groups)], now)


#: How the subject line counts each kind: (key of `Digest.counts`, one, several).
_COUNTED = (
    ("opening", "window opening", "windows opening"),
    ("flags", "flag", "flags"),
    ("sae", "SAE report due", "SAE reports due"),
    ("queries", "query", "queries"),
)


def counted(n: int, one: str, several: str) -> str:
    """`n` things in words that agree with the number: "1 flag", "2 flags", "0 overdue visits"."""
    return f"{n} {one if n == 1 else several}"


def subject_line(digest: Digest, local_date: date) -> str:
    """The digest's subject: its date and what it holds ("eCRF 2027-03-10: 1 overdue visit, 2 flags")."""
    counts = digest.counts
    parts = [counted(counts["overdue"], "overdue visit", "overdue visits")]
    parts += [counted(counts[key], one, several) for key, one, several in _COUNTED if counts[key]]
    return f"eCRF {local_date.isoformat()}: " + ", ".join(parts)


def _context(digest: Digest, local_date: date) -> dict:
    # Links start with the configured address of the app (ECRF_BASE_URL), never the address a request came in by.
    return {"digest": digest, "local_date": local_date, "base": current_app.config["ECRF_BASE_URL"].rstrip("/"), "to_local": to_local}


def render(digest: Digest, local_date: date) -> tuple[str, str, str]:
    """(subject line, plain text, HTML) of a digest; every item links to its page."""
    context = _context(digest, local_date)
    return subject_line(digest, local_date), render_template("email/digest.txt", **context), render_template("email/digest.html", **context)


@dataclass
class Preview:
    """What the user's next digest would say if it were built now: its date, subject line and content (HTML)."""

    local_date: date
    subject: str | None
    body: Markup | None


def preview(user: User, now: datetime) -> Preview:
    """Tomorrow's digest of `user` (their home site's tomorrow) from the data as it is now; no subject and body when
    it would be empty (an empty digest is not sent)."""
    home = home_site(user)
    tomorrow = (local_today(home.timezone, now) if home else now.date()) + timedelta(days=1)
    digest = build_digest(user, now)
    if digest is None:
        return Preview(tomorrow, None, None)
    body = Markup(render_template("email/digest_body.html", **_context(digest, tomorrow)))  # (escaped by its template)
    return Preview(tomorrow, subject_line(digest, tomorrow), body)
