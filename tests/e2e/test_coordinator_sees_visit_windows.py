"""Journey: a coordinator logs in, finds a subject from the worklist and sees its visit windows."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from ecrf.auth.models import Role
from ecrf.clock import site_today


def test_coordinator_logs_in_opens_a_subject_and_sees_its_windows(live_server, page, log_in, make_site, make_user, make_subject):
    site = make_site("SH01", ["defier"])
    make_user("coordinator@example.org", [("defier", site, Role.COORDINATOR)], name="Site Coordinator")
    index = site_today(site) - timedelta(days=100)
    subject = make_subject("defier", site, index, arm="des")
    m1, m3 = subject.visits[1], subject.visits[2]

    log_in("coordinator@example.org")

    expect(page.get_by_role("heading", name="Worklist")).to_be_visible()
    overdue = page.locator("#overdue")
    expect(overdue).to_contain_text("DEF-SH01-0001")
    expect(overdue).to_contain_text("1 month")
    expect(page.locator("#open")).to_contain_text("3 months")

    overdue.get_by_role("link", name="DEF-SH01-0001").click()
    expect(page.get_by_role("heading", name="DEF-SH01-0001")).to_be_visible()
    expect(page.locator("#arm")).to_have_text("DES")
    rows = page.locator("#visits tbody tr")
    expect(rows).to_have_count(6)
    m1_row = page.locator('#visits tr[data-visit="m1"]')
    expect(m1_row).to_contain_text(m1.window_start.isoformat())
    expect(m1_row).to_contain_text(m1.window_end.isoformat())
    expect(m1_row.locator(".status-badge")).to_have_text("overdue")
    expect(page.locator('#visits tr[data-visit="m3"] .status-badge')).to_have_text("open")
    expect(page.locator('#visits tr[data-visit="m3"]')).to_contain_text(f"{m3.window_start.isoformat()}")
    expect(page.locator('#visits tr[data-visit="baseline"] .status-badge')).to_have_text("completed in window")
    expect(page.locator('#visits tr[data-visit="m24"] .status-badge')).to_have_text("not yet open")
    expect(page.locator(".timeline .window")).to_have_count(6)
