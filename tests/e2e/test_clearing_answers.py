"""Point 12 of issue 10: a radio answer can be cleared, and an untestable NIHSS item never traps the form."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from ecrf.auth.models import Role
from ecrf.clock import site_today
from ecrf.crfs.models import CrfEntry
from ecrf.extensions import db
from ecrf.instruments.nihss import NihssData
from tests.instruments.test_nihss import EXAMPLES


def _nihss_page(live_server, page, log_in, make_site, make_user, make_subject):
    site = make_site("BJ01", ["angel-icas"])
    make_user("coordinator@example.org", [("angel-icas", site, Role.COORDINATOR)])
    subject = make_subject("angel-icas", site, site_today(site) - timedelta(days=1), arm="balloon")
    db.session.commit()
    log_in("coordinator@example.org")
    page.goto(f"{live_server}/subjects/{subject.subject_code}/visits/baseline/forms/nihss")
    return subject


def _score_all(page):
    for name, value in EXAMPLES["nihss"].items():
        page.locator(f'input[name="{name}"][value="{value}"]').check()


def _stored(subject):
    db.session.expire_all()
    entry = db.session.query(CrfEntry).filter_by(subject_id=subject.id, instrument="nihss").one()
    return entry, db.session.get(NihssData, entry.id)


def test_an_untestable_item_scored_by_mistake_is_cleared_in_the_page_and_the_form_completes(live_server, page, log_in, make_site, make_user, make_subject):
    subject = _nihss_page(live_server, page, log_in, make_site, make_user, make_subject)
    _score_all(page)
    page.locator("#item_5b_untestable").check()
    page.locator("#untestable_explanation").fill("right arm amputated")
    # The draft is kept even though 5b still has a score: nothing typed is lost.
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#entry-status")).to_have_text("draft")
    entry, data = _stored(subject)
    assert data.item_5b_untestable is True and data.untestable_explanation == "right arm amputated"
    # Completing says what to do; the values stay on the page.
    page.get_by_role("button", name="Save as complete").click()
    expect(page.locator('[data-field="item_5b"] .invalid-feedback')).to_contain_text("leave the score empty")
    expect(page.locator('input[name="item_4"][value="2"]')).to_be_checked()
    # Clear the score from the keyboard: the group's "clear" choice is reached with the arrow keys.
    page.locator('input[name="item_5b"][value="3"]').focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="clear 5b. Motor arm, right")).to_be_checked()
    expect(page.locator('input[name="item_5b"]:checked')).to_have_count(1)
    page.get_by_role("button", name="Save as complete").click()
    expect(page.locator("#entry-status")).to_have_text("complete")
    expect(page.locator('[data-result="NIHSS total"]')).to_have_text("9 of 42")
    _, data = _stored(subject)
    assert data.item_5b is None and data.item_5b_untestable is True


def test_a_radio_answer_is_cleared_and_saved_empty(live_server, page, log_in, make_site, make_user, make_subject):
    subject = _nihss_page(live_server, page, log_in, make_site, make_user, make_subject)
    page.locator('input[name="item_7"][value="1"]').check()
    page.get_by_role("radio", name="clear 7. Limb ataxia").check()
    expect(page.locator('input[name="item_7"][value="1"]')).not_to_be_checked()
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#entry-status")).to_have_text("draft")
    _, data = _stored(subject)
    assert data.item_7 is None
