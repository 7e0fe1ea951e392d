"""Journeys 3, 4 and 8: a late visit with its deviation reason, the investigator's signature, and a monitor's
query answered by a correction whose history shows both values, who, when and why."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from ecrf.auth.models import Role
from ecrf.clock import site_today
from tests.conftest import PASSWORD

ABI = {"brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}


def test_late_visit_signature_query_and_correction(live_server, browser_as, make_site, make_user, make_subject):
    site = make_site("SH01", ["defier"])
    for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR):
        make_user(f"{role.value}@example.org", [("defier", site, role)], name=f"Dr {role.value.title()}")
    subject = make_subject("defier", site, site_today(site) - timedelta(days=108), arm="des")  # the 3-month window closed 4 days ago
    visit_url = f"{live_server}/subjects/{subject.subject_code}/visits/m3"

    coordinator = browser_as("coordinator@example.org")
    coordinator.goto(visit_url)
    coordinator.get_by_label("Visit date").fill((site_today(site) - timedelta(days=1)).isoformat())
    coordinator.get_by_role("button", name="Save visit date").click()
    expect(coordinator.locator(".invalid-feedback")).to_contain_text("Deviation reason: required")
    coordinator.get_by_label("Deviation reason (if outside the window)").fill("patient travelling")
    coordinator.get_by_role("button", name="Save visit date").click()
    expect(coordinator.locator(".alert-warning")).to_contain_text("protocol deviation")
    coordinator.goto(f"{visit_url}/forms/abi")
    coordinator.locator("#target_limb-1").check()
    for name, value in ABI.items():
        coordinator.locator(f"#{name}").fill(value)
    coordinator.get_by_role("button", name="Save as complete").click()
    expect(coordinator.locator('[data-result="ABI left"]')).to_have_text("0.64 (abnormal)")

    investigator = browser_as("investigator@example.org")
    investigator.goto(visit_url)
    investigator.get_by_label("Your email (the account's)").fill("investigator@example.org")  # first signature of the session
    investigator.get_by_label("Your password").fill(PASSWORD)
    investigator.get_by_role("button", name="Sign").click()
    expect(investigator.locator(".alert-success")).to_contain_text("signed by Dr Investigator (approved)")

    monitor = browser_as("monitor@example.org")
    monitor.goto(f"{visit_url}/forms/abi")
    expect(monitor.locator(".signature")).to_contain_text("Signed by Dr Investigator")
    monitor.get_by_role("button", name="Source-verified").click()
    expect(monitor.locator("#entry-state")).to_have_text("verified and signed")
    monitor.locator('#raise-query select[name="field"]').select_option("pt_right")
    monitor.locator('#raise-query input[name="text"]').fill("Source says 125")
    monitor.get_by_role("button", name="Raise query").click()
    expect(monitor.locator("#query-status")).to_have_text("open")
    thread_url = monitor.url

    coordinator.goto(f"{live_server}/")
    coordinator.locator("#queries").get_by_role("link").first.click()
    coordinator.get_by_label("Text").fill("Corrected to 125")
    coordinator.get_by_role("button", name="Answer").click()
    coordinator.goto(f"{visit_url}/forms/abi")
    coordinator.locator("#pt_right").fill("125")
    coordinator.locator("#reason_for_change").fill("source says 125")
    coordinator.get_by_role("button", name="Save as complete").click()
    expect(coordinator.locator("#entry-status")).to_have_text("complete")
    expect(coordinator.locator(".signature")).to_contain_text("void")

    monitor.goto(thread_url)
    monitor.get_by_label("Text").fill("Thanks")
    monitor.get_by_role("button", name="Close").click()
    expect(monitor.locator("#query-status")).to_have_text("closed")
    monitor.goto(f"{visit_url}/forms/abi/1/history?field=pt_right")
    rows = monitor.locator("#history tbody tr")
    expect(rows.nth(0)).to_contain_text("coordinator@example.org")
    expect(rows.nth(0).locator(".old")).to_have_text("120")
    expect(rows.nth(0).locator(".new")).to_have_text("125")
    expect(rows.nth(0).locator(".reason")).to_have_text("source says 125")
