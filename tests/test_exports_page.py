"""The exports page: an export is queued by the request and run in the background, followed by its progress, and
downloaded by its maker only; finished files expire; the study's audit trail exports as CSV by date and site."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Membership, Role
from ecrf.exports.jobs import PICK_UP_AFTER, SILENT_FOR, expire_exports, run_job, run_waiting
from ecrf.exports.models import ExportJob, JobStatus
from ecrf.extensions import db
from tests.conftest import page_fields

PAGE = "/studies/defier/exports/"


@pytest.fixture
def sites(make_site):
    return make_site("SH01", ["defier"]), make_site("HZ01", ["defier"])


@pytest.fixture
def data_manager(sites, make_user):
    sh01, hz01 = sites
    return make_user("dm@example.org", [("defier", sh01, Role.DATA_MANAGER), ("defier", hz01, Role.DATA_MANAGER)], name="Dana Manager")


@pytest.fixture
def subjects(sites, make_subject):
    sh01, hz01 = sites
    return make_subject("defier", sh01, date(2026, 1, 10)), make_subject("defier", hz01, date(2026, 1, 12))


def audit_mark() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def audit_after(mark: int, action: str) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.action == action).order_by(AuditEvent.id)).all()


def jobs() -> list[ExportJob]:
    return db.session.scalars(select(ExportJob).order_by(ExportJob.id)).all()


def start(client, **values):
    data = {"format": "csv", "sites": ["SH01", "HZ01"], **values}
    return client.post(PAGE, data={**page_fields(client, PAGE, PAGE), **data})


def test_starting_an_export_queues_a_job_and_runs_nothing_in_the_request(login, data_manager, subjects):
    client = login(data_manager)
    response = start(client)
    assert response.status_code == 302
    (job,) = jobs()
    assert (job.status, job.format, job.sites, job.user_id) == (JobStatus.QUEUED, "csv", ["SH01", "HZ01"], data_manager.id)
    assert job.scope == "DEFIER, sites SH01, HZ01" and job.file_path is None
    page = client.get(PAGE).get_data(as_text=True)
    assert f'data-status-url="/studies/defier/exports/{job.id}/status"' in page and "queued 0%" in page


def test_a_double_clicked_start_gives_one_job(login, data_manager, subjects):
    client = login(data_manager)
    rendered = page_fields(client, PAGE, PAGE)
    first = client.post(PAGE, data={**rendered, "format": "csv", "sites": ["SH01"]})
    second = client.post(PAGE, data={**rendered, "format": "csv", "sites": ["SH01"]})
    assert first.status_code == second.status_code == 302
    assert len(jobs()) == 1


def test_the_job_writes_the_file_records_it_and_its_maker_downloads_it(login, data_manager, subjects):
    client = login(data_manager)
    start(client)
    (job,) = jobs()
    mark = audit_mark()
    assert run_job(job.id) == JobStatus.DONE
    assert run_job(job.id) is None  # taken once: a second worker finds it running or done
    db.session.refresh(job)
    assert job.status is JobStatus.DONE and job.rows == job.progress_done == job.progress_total > 0
    assert job.expires_at - job.finished_at == timedelta(days=30)
    status = client.get(f"{PAGE}{job.id}/status").get_json()
    rows = job.rows
    assert status == {"id": job.id, "status": "done", "done": rows, "total": rows, "percent": 100, "rows": rows, "sha256": job.sha256, "error": None}
    page = client.get(PAGE).get_data(as_text=True)
    assert f"{PAGE}{job.id}/download" in page and job.sha256 in page and "Dana Manager (dm@example.org)" in page

    download = client.get(f"{PAGE}{job.id}/download")
    assert download.status_code == 200
    assert f"defier-csv-{job.id}.zip" in download.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        subjects_csv = archive.read("subjects.csv").decode()
        data_rows = sum(len(list(csv.DictReader(io.StringIO(archive.read(name).decode())))) for name in archive.namelist() if name != "dictionary.csv")
    assert {row["site"] for row in csv.DictReader(io.StringIO(subjects_csv))} == {"SH01", "HZ01"}
    assert data_rows == rows  # the rows the job counted are the data rows of the file
    (export,) = audit_after(mark, "export")
    (downloaded,) = audit_after(mark, "download")
    assert export.user_email == downloaded.user_email == "dm@example.org"
    assert f"export {job.id}: csv; DEFIER, sites SH01, HZ01; {rows} rows; sha256 {job.sha256}" == downloaded.new_value


def test_another_user_sees_the_export_listed_but_cannot_follow_or_download_it(login, client, data_manager, subjects, sites, make_user):
    start(login(data_manager))
    (job,) = jobs()
    run_job(job.id)
    client.post("/logout", data={"csrf_token": page_fields(client, "/")["csrf_token"]})
    colleague = make_user("dm2@example.org", [("defier", sites[0], Role.DATA_MANAGER), ("defier", sites[1], Role.DATA_MANAGER)])
    other = login(colleague)
    page = other.get(PAGE).get_data(as_text=True)
    assert job.sha256 in page and "dm@example.org" in page
    assert f"{PAGE}{job.id}/download" not in page
    assert other.get(f"{PAGE}{job.id}/download").status_code == 404
    assert other.get(f"{PAGE}{job.id}/status").status_code == 404


def test_a_coordinator_does_not_see_exports_of_sites_beyond_theirs(login, data_manager, subjects, sites, make_user):
    start(login(data_manager))
    coordinator = make_user("c@example.org", [("defier", sites[0], Role.COORDINATOR)])
    client = login(coordinator)
    page = client.get(PAGE).get_data(as_text=True)
    assert "dm@example.org" not in page and 'value="HZ01"' not in page
    assert "Audit trail (CSV)" in page


def test_a_site_the_user_may_not_export_is_refused_with_a_message(login, sites, subjects, make_user):
    coordinator = make_user("c@example.org", [("defier", sites[0], Role.COORDINATOR)])
    response = start(login(coordinator), sites=["SH01", "HZ01"])
    assert response.status_code == 200
    assert "may not export DEFIER data of site HZ01" in response.get_data(as_text=True)
    assert jobs() == []


def test_a_refused_export_fails_with_its_one_line_message(app, login, data_manager, subjects):
    client = login(data_manager)
    start(client, format="odm-snapshot")
    (job,) = jobs()
    # The user loses the right to export before the job runs: the job is refused when it runs, not before.
    for membership in db.session.scalars(select(Membership).where(Membership.user_id == data_manager.id)):
        membership.role = Role.ADMIN
    db.session.commit()
    assert run_job(job.id) == JobStatus.FAILED
    db.session.refresh(job)
    assert (job.status, job.error, job.file_path) == (JobStatus.FAILED, "dm@example.org may not export DEFIER data", None)
    assert list(Path(app.config["ECRF_EXPORT_DIR"]).glob(f"defier-odm-{job.id}-*")) == []  # no partial file left
    for membership in db.session.scalars(select(Membership).where(Membership.user_id == data_manager.id)):
        membership.role = Role.DATA_MANAGER
    db.session.commit()
    g.pop("_ecrf_grants", None)  # the grants cached while the job ran (the test's app context is the requests')
    page = client.get(PAGE).get_data(as_text=True)
    assert "failed" in page and "dm@example.org may not export DEFIER data" in page and "/download" not in page


def test_the_admin_and_outsiders_have_no_exports_page(login, sites, make_user):
    admin = make_user("admin@example.org", [("defier", sites[0], Role.ADMIN)])
    client = login(admin)
    assert client.get(PAGE).status_code == 404
    assert "Exports" not in client.get("/studies/defier").get_data(as_text=True)


def test_the_study_page_links_the_exports_page(login, data_manager):
    assert PAGE in login(data_manager).get("/studies/defier").get_data(as_text=True)


def test_a_blinded_assessor_exports_data_but_not_the_audit_trail(login, sites, subjects, make_user):
    assessor = make_user("ba@example.org", [("defier", sites[0], Role.BLINDED_ASSESSOR)])
    client = login(assessor)
    page = client.get(PAGE).get_data(as_text=True)
    assert "CSV (zip" in page and "Audit trail (CSV)" not in page
    response = start(client, format="audit", sites=["SH01"])
    assert response.status_code == 200 and jobs() == []


def test_expiry_deletes_the_file_and_keeps_the_job_listed(login, data_manager, subjects, clock):
    client = login(data_manager)
    start(client)
    (job,) = jobs()
    run_job(job.id)
    db.session.refresh(job)
    path = Path(job.file_path)
    assert path.is_file()
    assert expire_exports(job.expires_at - timedelta(seconds=1)) == 0 and path.is_file()
    mark = audit_mark()
    assert expire_exports(job.expires_at) == 1
    db.session.commit()
    assert job.status == JobStatus.EXPIRED and not path.exists()
    (deleted,) = audit_after(mark, "export_deleted")
    assert f"export {job.id}" in deleted.new_value and "deleted after 30 days" in deleted.new_value
    assert client.get(f"{PAGE}{job.id}/download").status_code == 404
    assert "expired" in client.get(PAGE).get_data(as_text=True)


def test_the_nightly_pass_expires_old_exports(login, data_manager, subjects, clock):
    from ecrf.notify.nightly import run_nightly

    start(login(data_manager))
    (job,) = jobs()
    run_job(job.id)
    db.session.refresh(job)
    run_nightly(job.expires_at + timedelta(hours=1))
    db.session.refresh(job)
    assert job.status == JobStatus.EXPIRED and not Path(job.file_path).exists()


def test_the_scheduler_runs_jobs_left_queued_and_fails_interrupted_ones(login, data_manager, subjects):
    start(login(data_manager))
    (job,) = jobs()
    assert run_waiting(job.created_at + PICK_UP_AFTER / 2) == 0  # the web process may still take it
    assert run_waiting(job.created_at + PICK_UP_AFTER) == 1
    db.session.refresh(job)
    assert job.status == JobStatus.DONE

    stuck = ExportJob(user_id=data_manager.id, study_id=job.study_id, format="csv", site_codes="SH01", scope="DEFIER, sites SH01", status=JobStatus.RUNNING)
    stuck.heartbeat_at = datetime.now(UTC) - SILENT_FOR - timedelta(minutes=1)
    db.session.add(stuck)
    db.session.commit()
    run_waiting()
    db.session.refresh(stuck)
    assert stuck.status == JobStatus.FAILED and stuck.error.startswith("Interrupted")


def _audit_rows(client, job_id) -> list[dict]:
    response = client.get(f"{PAGE}{job_id}/download")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.data.decode())))


def test_the_audit_trail_exports_as_csv_by_site_and_date_range(login, data_manager, subjects):
    client = login(data_manager)
    sh01_subject, hz01_subject = subjects
    start(client, format="audit", sites=["SH01"])
    start(client, format="audit", sites=["SH01", "HZ01"], date_to="2001-01-01")
    one_site, too_early = jobs()
    assert run_job(one_site.id) == run_job(too_early.id) == JobStatus.DONE
    rows = _audit_rows(client, one_site.id)
    assert rows and {row["subject"] for row in rows} == {sh01_subject.subject_code}
    assert {row["site"] for row in rows} == {"SH01"}
    assert {"action", "table", "field", "old_value", "new_value", "reason", "at_utc", "user"} <= set(rows[0])
    assert _audit_rows(client, too_early.id) == []
    db.session.refresh(one_site)
    assert one_site.scope.endswith("start to now") and one_site.rows == len(rows)
