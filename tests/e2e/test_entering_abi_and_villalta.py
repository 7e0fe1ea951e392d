"""Journeys 3 and 7: a coordinator types the ABI pressures and a Villalta score and sees the computed values."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from ecrf.auth.models import Role
from ecrf.clock import site_today
from ecrf.crfs.registry import instrument
from ecrf.extensions import db
from ecrf.visits.services import record_visit_date


def test_abi_pressures_typed_in_paper_order_give_the_abi_and_band_per_leg(live_server, page, log_in, make_site, make_user, make_subject):
    site = make_site("SH01", ["defier"])
    make_user("coordinator@example.org", [("defier", site, Role.COORDINATOR)])
    subject = make_subject("defier", site, site_today(site) - timedelta(days=95), arm="des")
    record_visit_date(subject.visits[2], site_today(site))
    db.session.commit()

    log_in("coordinator@example.org")
    page.goto(f"{live_server}/subjects/{subject.subject_code}/visits/m3")
    row = page.locator('#instruments tr[data-instrument="abi"]')
    expect(row.locator(".form-status")).to_have_text("not started")
    row.get_by_role("link", name="Ankle-brachial index").click()

    # Keyboard order follows the paper form: Tab walks the data fields in their printed order.
    page.locator("#target_limb-1").check()
    visited = [page.evaluate("document.activeElement.name")]
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "BUTTON":
            break
        name = page.evaluate("document.activeElement.name")
        if name != visited[-1]:
            visited.append(name)
    assert visited == [name for name in instrument("abi").form.data_field_names()]

    for name, value in [("brachial_right", "140"), ("brachial_left", "130"), ("pt_right", "120"), ("dp_right", "110"), ("pt_left", "90"), ("dp_left", "84")]:
        page.locator(f"#{name}").fill(value)
    page.get_by_role("button", name="Save as complete").click()
    expect(page.locator("#entry-status")).to_have_text("complete")
    expect(page.locator('[data-result="ABI right"]')).to_have_text("0.86 (abnormal)")
    expect(page.locator('[data-result="ABI left"]')).to_have_text("0.64 (abnormal)")

    page.goto(f"{live_server}/subjects/{subject.subject_code}/visits/m3")
    expect(page.locator('#instruments tr[data-instrument="abi"] .form-status')).to_have_text("complete")


def test_a_villalta_of_16_shows_severe_post_thrombotic_syndrome(live_server, page, log_in, make_site, make_user, make_subject):
    site = make_site("DE01", ["defiance"], "Europe/Berlin", "DE")
    make_user("coordinator@example.org", [("defiance", site, Role.COORDINATOR)])
    subject = make_subject("defiance", site, site_today(site) - timedelta(days=181), arm="clottriever")
    record_visit_date(subject.visits[3], site_today(site))
    db.session.commit()

    log_in("coordinator@example.org")
    page.goto(f"{live_server}/subjects/{subject.subject_code}/visits/m6/forms/villalta")
    page.locator("#leg-0").check()
    scores = {
        "pain": 3,
        "cramps": 1,
        "heaviness": 2,
        "paresthesia": 0,
        "pruritus": 1,
        "pretibial_edema": 2,
        "skin_induration": 2,
        "hyperpigmentation": 2,
        "redness": 1,
        "venous_ectasia": 1,
        "calf_compression_pain": 1,
    }
    for name, score in scores.items():
        page.locator(f"#{name}").fill(str(score))
    page.locator("#ulcer-1").check()  # No
    page.get_by_role("button", name="Save as complete").click()
    expect(page.locator('[data-result="Villalta total"]')).to_have_text("16 of 33")
    expect(page.locator('[data-result="Post-thrombotic syndrome"]')).to_have_text("severe")
