"""Journey: a data manager starts an export, watches its progress bar, and downloads the file; a colleague sees
it listed but gets no download."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date

from playwright.sync_api import expect
from sqlalchemy import select

from ecrf.auth.models import Role
from ecrf.exports.jobs import run_job
from ecrf.exports.models import ExportJob
from ecrf.extensions import db


def test_data_manager_starts_an_export_sees_its_progress_and_downloads_it(app, live_server, browser_as, make_site, make_user, make_subject, monkeypatch):
    sh01, hz01 = make_site("SH01", ["defier"]), make_site("HZ01", ["defier"])
    for email in ("dm@example.org", "dm2@example.org"):
        make_user(email, [("defier", sh01, Role.DATA_MANAGER), ("defier", hz01, Role.DATA_MANAGER)])
    make_subject("defier", sh01, date(2026, 1, 10))
    make_subject("defier", hz01, date(2026, 1, 12))
    monkeypatch.setitem(app.config, "ECRF_EXPORT_WORKERS", 0)  # first the job waits, so that its bar is seen queued

    page = browser_as("dm@example.org")
    page.goto(live_server + "/studies/defier")
    page.get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", name="Exports of DEFIER")).to_be_visible()
    expect(page.get_by_label("CSV (zip, with data dictionary)")).to_be_checked()
    expect(page.get_by_label("SH01")).to_be_checked()
    page.get_by_label("HZ01").uncheck()
    page.get_by_role("button", name="Start export").click()

    bar = page.get_by_role("progressbar", name="Progress of export")
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("queued 0%")
    job_id = db.session.scalar(select(ExportJob.id))
    assert run_job(job_id) is not None  # a worker takes it; the page's script sees it end and shows the download
    db.session.remove()

    download_link = page.get_by_role("link", name="Download")
    expect(download_link).to_be_visible(timeout=10000)
    expect(page.locator(f"#export-{job_id}")).to_contain_text("DEFIER, sites SH01")
    with page.expect_download() as info:
        download_link.click()
    with zipfile.ZipFile(info.value.path()) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("subjects.csv").decode())))
    assert [row["site"] for row in rows] == ["SH01"]

    # With the web process's threads on, the export runs by itself after Start.
    monkeypatch.setitem(app.config, "ECRF_EXPORT_WORKERS", 1)
    page.get_by_label("Audit trail (CSV)").check()
    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_role("link", name="Download")).to_have_count(2, timeout=15000)

    colleague = browser_as("dm2@example.org")
    colleague.goto(live_server + "/studies/defier/exports/")
    expect(colleague.locator(f"#export-{job_id}")).to_contain_text("dm@example.org")
    expect(colleague.get_by_role("link", name="Download")).to_have_count(0)
    response = colleague.request.get(f"{live_server}/studies/defier/exports/{job_id}/download")
    assert response.status == 404
