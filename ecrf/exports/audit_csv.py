"""The study's audit trail as one CSV file, streamed: every audited change about the subjects and screening records
of the chosen sites in a date range, and the study's own events (exports, downloads) when every site is chosen.

Log-ins, accounts and protocol set-up are the system's trail, not a study's: they are not in it. Only users who may
see the audit trail (`Action.VIEW_AUDIT`: not a blinded assessor, whose trail would show the allocation) at every
chosen site export it.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, String, and_, cast, false, func, or_, select
from sqlalchemy.orm import aliased

from ecrf.access import Action, grants
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import User
from ecrf.exports.scope import ExportRefused, Progress, Scope, export_scope
from ecrf.exports.services import ExportResult, recorded
from ecrf.extensions import db
from ecrf.screening.models import ScreeningRecord
from ecrf.studies.models import Site, StudySite
from ecrf.subjects.models import Subject

#: The CSV's columns, in order.
#: `via`: the way in where not the browser or a command ("API token <name> (<first characters>…)").
COLUMNS = ("event_id", "at_utc", "user", "action", "table", "object_id", "subject", "site", "field", "old_value", "new_value", "reason", "via")
#: Rows fetched from the database at a time: memory does not grow with the trail.
BATCH = 1000


def audit_scope(user: User, study_code: str, site_codes: list[str] | None = None) -> Scope:
    """The export scope narrowed to the sites where the user may see the audit trail; `ExportRefused` when a chosen
    site is not one of them, or none is."""
    scope = export_scope(user, study_code, site_codes)
    held = grants(user)
    denied = [site.code for site in scope.sites if not held.allows(Action.VIEW_AUDIT, scope.study.id, site.id)]
    if denied and (site_codes or len(denied) == len(scope.sites)):
        raise ExportRefused(f"{user.email} may not export the audit trail of {scope.study.short_title} at site {', '.join(denied)}")
    return replace(scope, sites=[site for site in scope.sites if site.code not in denied])


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _in_scope(scope: Scope, subject: type[Subject], screening: type[ScreeningRecord]) -> ColumnElement[bool]:
    """Audit rows about the scope's subjects or screening records, or about the study itself when every site is in it."""
    site_ids = scope.site_ids
    every_site = set(db.session.scalars(select(StudySite.site_id).where(StudySite.study_id == scope.study.id))) <= set(site_ids)
    return or_(
        and_(subject.study_id == scope.study.id, subject.site_id.in_(site_ids)),
        and_(screening.study_id == scope.study.id, screening.site_id.in_(site_ids)),
        and_(AuditEvent.object_type == "study", AuditEvent.object_id == scope.study.code) if every_site else false(),
    )


def write_audit_csv(scope: Scope, path: Path, *, date_from: date | None, date_to: date | None, progress: Progress) -> int:
    """Write the scope's audit rows from `date_from` to `date_to` (UTC days, both included) as CSV at `path`, oldest
    first, fetched in batches; returns the number of rows."""
    subject = aliased(Subject)
    screening = aliased(ScreeningRecord)
    site = aliased(Site)
    conditions = [_in_scope(scope, subject, screening)]
    if date_from is not None:
        conditions.append(AuditEvent.at >= _day_start(date_from))
    if date_to is not None:
        conditions.append(AuditEvent.at < _day_start(date_to + timedelta(days=1)))
    joined = (
        select(AuditEvent.id)
        .outerjoin(subject, subject.id == AuditEvent.subject_id)
        .outerjoin(screening, and_(AuditEvent.object_type == "screening_records", AuditEvent.object_id == cast(screening.id, String)))
    )
    total = db.session.scalar(select(func.count()).select_from(joined.where(*conditions).subquery())) or 0
    progress(0, total)
    rows = (
        select(AuditEvent, subject.subject_code, site.code)
        .outerjoin(subject, subject.id == AuditEvent.subject_id)
        .outerjoin(screening, and_(AuditEvent.object_type == "screening_records", AuditEvent.object_id == cast(screening.id, String)))
        .outerjoin(site, site.id == func.coalesce(subject.site_id, screening.site_id))
        .where(*conditions)
        .order_by(AuditEvent.id)
        .execution_options(yield_per=BATCH)
    )
    done = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for event, subject_code, site_code in db.session.execute(rows):
            writer.writerow(
                [
                    event.id,
                    event.at.isoformat(),
                    event.user_email,
                    event.action,
                    event.object_type,
                    event.object_id or "",
                    subject_code or "",
                    site_code or "",
                    event.field or "",
                    event.old_value or "",
                    event.new_value or "",
                    event.reason or "",
                    event.via or "",
                ]
            )
            done += 1
            if done % BATCH == 0:
                progress(done, total)  # (the session's identity map holds rows weakly: written rows are freed)
    progress(done, max(total, done))
    return done


def run_audit_export(scope: Scope, path: Path, *, date_from: date | None = None, date_to: date | None = None, progress: Progress | None = None) -> ExportResult:
    """Write the study's audit trail in the scope to `path` (CSV), hash it and record the export in the audit trail
    (as `run_export` does for the data). The caller commits."""
    rows = write_audit_csv(scope, path, date_from=date_from, date_to=date_to, progress=progress or (lambda done, total: None))
    period = f"{date_from.isoformat() if date_from else 'start'} to {date_to.isoformat() if date_to else 'now'}"
    return recorded(scope, path, rows, f"audit; {scope.describe()}; {period}")
