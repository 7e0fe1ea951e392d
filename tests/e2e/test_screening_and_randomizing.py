"""Journey 5: a new PRECISE CAL patient is screened, randomized once QFR > 0.80, and gets a visit schedule."""

from __future__ import annotations

from playwright.sync_api import expect

from ecrf.auth.models import Role
from ecrf.clock import site_today
from ecrf.protocols import protocols
from ecrf.screening.eligibility import eligible_example, judged_by_investigator
from ecrf.screening.fields import SCREENING_FIELDS


def _fill_screening(page, qfr: str) -> None:
    numbers, _ = eligible_example(protocols()["precise-cal"])
    for code, number in numbers.items():
        page.locator(f"#{SCREENING_FIELDS[code].input_name}").fill(str(number))
    page.locator("#qfr_post_modification").fill(qfr)
    for kind, criterion in judged_by_investigator(protocols()["precise-cal"]):
        choice = 0 if kind == "inclusion" else 1  # inclusion met: Yes; exclusion applies: No
        page.locator(f"#criterion_{criterion.code.replace('-', '_')}-{choice}").check()
    page.get_by_role("button", name="Save screening").click()


def test_qfr_086_randomizes_and_shows_the_schedule_while_078_is_refused_with_the_reason(live_server, page, log_in, make_site, make_user, cli):
    site = make_site("SH01", ["precise-cal"])
    make_user("coordinator@example.org", [("precise-cal", site, Role.COORDINATOR)])
    assert cli.invoke(args=["ecrf", "randomization", "generate", "precise-cal", "--seed", "5", "--per-stratum", "8"]).exit_code == 0
    log_in("coordinator@example.org")

    page.goto(f"{live_server}/studies/precise-cal/sites/SH01/screening/new")
    _fill_screening(page, "0.78")
    expect(page.locator("#outcome")).to_have_text("screen failure")
    expect(page.locator("#failed")).to_contain_text("QFR > 0.8 after calcification modification")

    page.goto(f"{live_server}/studies/precise-cal/sites/SH01/screening/new")
    _fill_screening(page, "0.86")
    expect(page.locator("#outcome")).to_have_text("eligible")
    page.get_by_role("link", name="Enrol and randomize").click()
    page.get_by_label("Informed consent date").fill(site_today(site).isoformat())
    page.get_by_label("PCI date").fill(site_today(site).isoformat())
    page.get_by_role("button", name="Enrol and randomize").click()
    expect(page.get_by_role("heading", name="PCL-SH01-0001")).to_be_visible()
    expect(page.locator("#arm")).to_contain_text("randomized")
    expect(page.locator("#visits tbody tr")).to_have_count(4)
    expect(page.locator('#visits tr[data-visit="m12"]')).to_contain_text("not yet open")
