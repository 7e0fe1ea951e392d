"""Exports started in the browser: a queued row in `export_jobs`, run in the background, its file kept for a while.

Where a job runs, and why. The request only validates the choice and adds a queued row; it never writes the file.
Each web process keeps a small thread pool (ECRF_EXPORT_WORKERS threads, 2 by default) and hands it the new job
after the commit, so that the export starts at once and its progress shows within a second. The thread opens its
own app context and session. Gunicorn runs several workers, and the scheduler is another process, so nothing about
a job lives in a process: its state, progress and result are in its row, every page reads them from there, and a job
is taken by one conditional UPDATE (queued -> running), so that it runs once whoever tries. A job that no thread
took (the process stopped before its thread started, or ECRF_EXPORT_WORKERS is 0) is taken by the scheduler process
(`ecrf.scheduler`, every minute, once it has waited a minute); a running job whose process died stops giving signs
of life and is marked failed ("interrupted"), to be started again. A separate job queue (Celery, RQ) would need a
broker this application does not otherwise have; exports are minutes of work at most, which a thread does well.

Who may download: only the user who started the export, while they may still export that scope. A file holds
what its maker may see; another user of the same study may see less (other sites, no arm), and checking that their
own scope covers the file's, site by site and blinding included, would be a second access rule to get right. The
list shows everyone's exports whose sites are all among the viewer's (who made them, when, the scope, the SHA-256),
so that a colleague can see what left the system and ask for a file, but only its maker downloads it.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ecrf.access import Action, grants
from ecrf.audit.trail import record_event
from ecrf.auth.models import User
from ecrf.clock import now_utc
from ecrf.db import update_where
from ecrf.errors import InvalidInput
from ecrf.exports.audit_csv import audit_scope, run_audit_export
from ecrf.exports.models import FORMAT_LABELS, ExportJob, JobStatus
from ecrf.exports.scope import TABULAR_FORMATS, ExportRefused, Scope, export_scope
from ecrf.exports.services import ExportResult, run_export
from ecrf.extensions import db
from ecrf.studies.models import Study

log = logging.getLogger("ecrf.exports")

#: A queued job the web process did not start within this time is taken by the scheduler.
PICK_UP_AFTER = timedelta(minutes=1)
#: A running job without progress for this long was interrupted (its process stopped).
SILENT_FOR = timedelta(minutes=15)
#: Progress is written to the job's row at most this often (seconds), and when a stage ends.
PROGRESS_EVERY = 0.5
#: The newest jobs listed on the exports page.
LISTED = 50
#: What a failed job says when the failure is not a refusal (the error itself goes to the log).
SERVER_ERROR = "The export failed on the server (the error is logged); start it again, or tell the data manager if it fails again."


def choice_of(fmt: str, snapshot: bool) -> str:
    """The page's choice for a format: "odm-snapshot" for an ODM snapshot, else the format."""
    return f"{fmt}-snapshot" if fmt == "odm" and snapshot else fmt


def parse_choice(choice: str) -> tuple[str, bool]:
    """(format, snapshot) of a choice of the page; `InvalidInput` for anything else."""
    if choice not in FORMAT_LABELS:
        raise InvalidInput.at("format", f"Format: choose one of {', '.join(FORMAT_LABELS.values())}.")
    return ("odm", True) if choice == "odm-snapshot" else (choice, False)


def job_scope(user: User, study_code: str, fmt: str, site_codes: list[str] | None) -> Scope:
    """The scope of a job: the audit trail's (sites where the user may see it) or the data's; `ExportRefused`."""
    if not user.active:
        raise ExportRefused(f"{user.email} is disabled")
    return audit_scope(user, study_code, site_codes) if fmt == "audit" else export_scope(user, study_code, site_codes)


def start_export(user: User, study: Study, choice: str, site_codes: list[str], date_from: date | None = None, date_to: date | None = None) -> ExportJob:
    """Queue an export of the study by `user` (the run happens elsewhere: `run_job`); `InvalidInput` naming the field
    for a bad format, a site the user may not export, or a date range that ends before it starts. Flushes."""
    fmt, snapshot = parse_choice(choice)
    if not site_codes:
        raise InvalidInput.at("sites", "Sites: choose at least one site.")
    if fmt != "audit":
        date_from = date_to = None
    elif date_from and date_to and date_to < date_from:
        raise InvalidInput.at("date_to", "To: a day on or after From.")
    try:
        scope = job_scope(user, study.code, fmt, site_codes)
    except ExportRefused as refused:
        raise InvalidInput.at("sites", f"{refused}.") from None
    described = scope.describe()
    if fmt == "audit":
        described += f", {date_from.isoformat() if date_from else 'start'} to {date_to.isoformat() if date_to else 'now'}"
    job = ExportJob(
        user_id=user.id,
        study_id=study.id,
        format=fmt,
        snapshot=snapshot,
        site_codes=",".join(site.code for site in scope.sites),
        scope=described,
        date_from=date_from,
        date_to=date_to,
    )
    db.session.add(job)
    db.session.flush()
    return job


def export_dir() -> Path:
    """The folder of finished files: ECRF_EXPORT_DIR, else `exports` in the instance folder (made if missing)."""
    folder = Path(current_app.config.get("ECRF_EXPORT_DIR") or Path(current_app.instance_path) / "exports")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def extension(fmt: str) -> str:
    """The file type of a format's file."""
    return "zip" if fmt in TABULAR_FORMATS else "xml" if fmt == "odm" else "csv"


@dataclass
class _Progress:
    """`progress(done, total)` of a running job: written to its row on a connection of its own (committed at once, so
    that the page polling it sees it while the export's own transaction is still open), at most every half second."""

    job_id: int
    done: int = 0
    total: int = 0
    _last: float = 0.0

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        moment = time.monotonic()
        if moment - self._last < PROGRESS_EVERY and done < total:
            return
        self._last = moment
        # A session of its own (a savepoint where the tests' session shares one connection).
        with Session(bind=db.engine, join_transaction_mode="create_savepoint") as session:
            session.execute(
                update(ExportJob)
                .where(ExportJob.id == self.job_id, ExportJob.status == JobStatus.RUNNING)
                .values(progress_done=done, progress_total=total, heartbeat_at=now_utc())
            )
            session.commit()


def run_job(job_id: int) -> JobStatus | None:
    """Take a queued job (one conditional UPDATE: whoever else tries gets nothing) and run it: the file, its hash,
    the audit event, then the job done with its expiry date; or failed with a one-line message (a refusal's own,
    or a general one for an error, which is logged). Commits. None when the job was not queued any more."""
    started = now_utc()
    if not update_where(
        db.session, ExportJob, ExportJob.id == job_id, ExportJob.status == JobStatus.QUEUED, status=JobStatus.RUNNING, started_at=started, heartbeat_at=started
    ):
        db.session.rollback()
        return None
    db.session.commit()
    job = db.session.get(ExportJob, job_id)
    assert job is not None
    path = export_dir() / f"{job.study.code}-{job.format}-{job.id}-{started:%Y%m%dT%H%M%SZ}.{extension(job.format)}"
    progress = _Progress(job_id)
    try:
        scope = job_scope(job.user, job.study.code, job.format, job.sites)
        result: ExportResult = (
            run_audit_export(scope, path, date_from=job.date_from, date_to=job.date_to, progress=progress)
            if job.format == "audit"
            else run_export(scope, job.format, path, snapshot=job.snapshot, progress=progress)
        )
    except Exception as error:  # any failure ends the job as failed, never a job left running
        db.session.rollback()
        path.unlink(missing_ok=True)
        refused = isinstance(error, ExportRefused) and str(error).strip()
        if not refused:
            log.exception("export job %s failed", job_id)
        message = str(error).strip().splitlines()[0] if refused else SERVER_ERROR
        update_where(db.session, ExportJob, ExportJob.id == job_id, status=JobStatus.FAILED, error=message, finished_at=now_utc())
        db.session.commit()
        return JobStatus.FAILED
    finished = now_utc()
    update_where(
        db.session,
        ExportJob,
        ExportJob.id == job_id,
        status=JobStatus.DONE,
        file_path=str(path),
        rows=result.rows,
        sha256=result.sha256,
        progress_done=max(progress.done, result.rows),
        progress_total=max(progress.total, progress.done, result.rows),
        finished_at=finished,
        expires_at=finished + timedelta(days=int(current_app.config["ECRF_EXPORT_KEEP_DAYS"])),
    )
    db.session.commit()  # the file, its audit event and the job's result together
    return JobStatus.DONE


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _run_in_app(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            run_job(job_id)
        except Exception:  # a thread's error would be lost: log it (a job left running is failed by the scheduler later)
            log.exception("export job %s could not be run", job_id)
        finally:
            db.session.remove()


def start_in_background(app: Flask, job_id: int) -> bool:
    """Hand a committed queued job to this process's thread pool; False when the app runs none (ECRF_EXPORT_WORKERS
    0: the scheduler takes it)."""
    global _executor
    workers = int(app.config.get("ECRF_EXPORT_WORKERS", 0))
    if workers <= 0:
        return False
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ecrf-export")
    _executor.submit(_run_in_app, app, job_id)
    return True


def run_waiting(now: datetime | None = None) -> int:
    """The scheduler's pass: run the jobs queued for longer than PICK_UP_AFTER, and mark failed those running without
    a sign of life for SILENT_FOR (their process stopped). Commits; returns the jobs run."""
    now = now or now_utc()
    silent = now - SILENT_FOR
    stopped = db.session.scalars(
        select(ExportJob.id).where(
            ExportJob.status == JobStatus.RUNNING, or_(ExportJob.heartbeat_at < silent, ExportJob.heartbeat_at.is_(None) & (ExportJob.created_at < silent))
        )
    ).all()
    for job_id in stopped:
        update_where(
            db.session,
            ExportJob,
            ExportJob.id == job_id,
            ExportJob.status == JobStatus.RUNNING,
            status=JobStatus.FAILED,
            error="Interrupted: the server stopped while the export ran; start it again.",
            finished_at=now,
        )
    db.session.commit()
    waiting = db.session.scalars(
        select(ExportJob.id).where(ExportJob.status == JobStatus.QUEUED, ExportJob.created_at <= now - PICK_UP_AFTER).order_by(ExportJob.id)
    ).all()
    return sum(1 for job_id in waiting if run_job(job_id) is not None)


def expire_exports(now: datetime) -> int:
    """Delete the files of finished exports whose time is up (the job stays listed as expired; the deletion is in the
    audit trail). Flushes; returns how many."""
    due = db.session.scalars(select(ExportJob).where(ExportJob.status == JobStatus.DONE, ExportJob.expires_at <= now).order_by(ExportJob.id)).all()
    for job in due:
        if job.file_path:
            Path(job.file_path).unlink(missing_ok=True)
        update_where(db.session, ExportJob, ExportJob.id == job.id, ExportJob.status == JobStatus.DONE, status=JobStatus.EXPIRED)
        record_event(
            db.session(),
            "export_deleted",
            object_type="study",
            object_id=job.study.code,
            new=f"export {job.id} ({job.format}; {job.scope}; sha256 {job.sha256}) deleted after {current_app.config['ECRF_EXPORT_KEEP_DAYS']} days",
        )
    db.session.flush()
    return len(due)


def exportable_sites(user: User, study: Study) -> list:
    """The study's sites where the user may export, by code."""
    held = grants(user)
    return [site for site in held.sites_of(study.id) if held.allows(Action.EXPORT, study.id, site.id)]


def may_export_audit(user: User, study: Study) -> bool:
    """Whether the user may export the study's audit trail at some site."""
    held = grants(user)
    return any(held.allows(Action.VIEW_AUDIT, study.id, site.id) for site in exportable_sites(user, study))


def listed_jobs(user: User, study: Study) -> list[ExportJob]:
    """The study's exports the user sees, newest first: their own, and others' whose sites are all among theirs."""
    own_sites = {site.code for site in exportable_sites(user, study)}
    jobs = db.session.scalars(select(ExportJob).where(ExportJob.study_id == study.id).order_by(ExportJob.id.desc()).limit(LISTED)).all()
    return [job for job in jobs if job.user_id == user.id or set(job.sites) <= own_sites]


def own_job(user: User, study: Study, job_id: int) -> ExportJob | None:
    """The user's own job of this study, or None (another user's job is not theirs to follow or download)."""
    return db.session.scalar(select(ExportJob).where(ExportJob.id == job_id, ExportJob.study_id == study.id, ExportJob.user_id == user.id))


def downloadable(job: ExportJob, user: User) -> Path | None:
    """The finished file of the user's job, while they may still export its scope; None otherwise."""
    if job.status != JobStatus.DONE or not job.file_path or job.user_id != user.id:
        return None
    try:
        job_scope(user, job.study.code, job.format, job.sites)
    except ExportRefused:
        return None
    path = Path(job.file_path)
    return path if path.is_file() else None


def record_download(job: ExportJob, user: User) -> None:
    """The download of an export's file, in the audit trail (who, which export, its scope and hash). Flushes."""
    record_event(
        db.session(),
        "download",
        object_type="study",
        object_id=job.study.code,
        new=f"export {job.id}: {job.format}{' snapshot' if job.snapshot else ''}; {job.scope}; {job.rows} rows; sha256 {job.sha256}",
        user=user,
    )
    db.session.flush()


@dataclass(frozen=True)
class JobOffers:
    """What the exports page offers a user for one listed job."""

    #: Poll its status (the maker's running job).
    follow: bool
    download: bool


def job_offers(job: ExportJob, user: User) -> JobOffers:
    """Only the maker follows their job's progress and downloads its finished file (see the module's docstring)."""
    mine = job.user_id == user.id
    return JobOffers(follow=mine and job.in_progress, download=mine and job.status == JobStatus.DONE)


def status_of(job: ExportJob) -> dict:
    """A job's state for the page's progress bar (JSON)."""
    return {
        "id": job.id,
        "status": job.status.value,
        "done": job.progress_done,
        "total": job.progress_total,
        "percent": job.percent,
        "rows": job.rows,
        "sha256": job.sha256,
        "error": job.error,
    }
