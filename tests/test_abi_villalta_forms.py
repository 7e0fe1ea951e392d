"""ABI and Villalta entry: computed values, warnings to confirm, drafts, missing-data codes, kept input."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from ecrf import scales
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.extensions import db
from ecrf.instruments.abi import AbiData
from ecrf.instruments.villalta import VillaltaData
from ecrf.visits.services import record_visit_date
from tests.conftest import csrf_token, post_form

NOW = datetime(2027, 6, 1, 4)  # noon in Shanghai


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "defiance"])


@pytest.fixture
def coordinator(make_user, site, login):
    return login(make_user("c@example.org", [("defier", site, Role.COORDINATOR), ("defiance", site, Role.COORDINATOR)]))


@pytest.fixture
def defier_m3(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    return subject


ABI_URL = "/subjects/DEF-SH01-0001/visits/m3/forms/abi"
ABI = {
    "target_limb": "left",
    "brachial_right": "140",
    "brachial_left": "130",
    "pt_right": "120",
    "dp_right": "110",
    "pt_left": "90",
    "dp_left": "84",
}


def _entry(instrument: str) -> CrfEntry | None:
    db.session.expire_all()
    return db.session.scalar(select(CrfEntry).where(CrfEntry.instrument == instrument))


def test_a_complete_abi_stores_and_shows_the_abi_and_band_per_leg(coordinator, defier_m3):
    response = post_form(coordinator, ABI_URL, {**ABI, "action": "complete"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "ABI right" in page and "0.86 (abnormal)" in page and "0.64 (abnormal)" in page
    entry = _entry("abi")
    data = db.session.get(AbiData, entry.id)
    assert entry.status is EntryStatus.COMPLETE
    assert (data.abi_right, data.band_right, data.abi_left, data.band_left) == (Decimal("0.86"), "abnormal", Decimal("0.64"), "abnormal")


def test_an_abi_above_1_40_must_be_confirmed_before_completing(coordinator, defier_m3):
    high = {**ABI, "pt_right": "200", "action": "complete"}
    response = post_form(coordinator, ABI_URL, high)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "ABI right 1.43 is above 1.40" in page
    assert 'value="200"' in page  # the entered values stay
    assert _entry("abi") is None
    confirmed = post_form(coordinator, ABI_URL, {**high, "confirm": "abi_right_high"}, follow_redirects=True)
    assert "1.43 (noncompressible)" in confirmed.get_data(as_text=True)
    assert _entry("abi").confirmed_warnings == ["abi_right_high"]


def test_brachial_pressures_more_than_15_apart_need_confirming(coordinator, defier_m3):
    page = post_form(coordinator, ABI_URL, {**ABI, "brachial_left": "124", "action": "complete"}).get_data(as_text=True)
    assert "Brachial pressures differ by 16 mmHg (more than 15): confirm both arms." in page
    page = post_form(coordinator, ABI_URL, {**ABI, "brachial_left": "125", "action": "complete"}, follow_redirects=True).get_data(as_text=True)
    assert "differ by" not in page and _entry("abi").status is EntryStatus.COMPLETE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pt_left": "abc"}, "Posterior tibial, left (mmHg): not valid; enter a whole number from 1 to 350 mmHg."),
        ({"brachial_right": "400"}, "Brachial systolic, right arm (mmHg): enter a whole number from 50 to 300 mmHg."),
        ({"pt_right": ""}, "Posterior tibial, right (mmHg): required unless the artery is marked not measurable or incompressible."),
        ({"dp_left_finding": "incompressible"}, "Dorsalis pedis, left (mmHg): leave the pressure empty when the artery is marked incompressible."),
        ({"target_limb": "both"}, "Target limb: choose one of Right, Left."),
    ],
)
def test_bad_abi_input_names_the_field_keeps_the_input_and_saves_nothing(coordinator, defier_m3, change, message):
    page = post_form(coordinator, ABI_URL, {**ABI, **change, "action": "complete"}).get_data(as_text=True)
    assert message in page
    assert 'value="130"' in page and 'value="84"' in page
    assert _entry("abi") is None


def test_an_incompressible_artery_bands_the_leg_noncompressible(coordinator, defier_m3):
    data = {**ABI, "dp_left": "", "dp_left_finding": "incompressible", "action": "complete"}
    page = post_form(coordinator, ABI_URL, data, follow_redirects=True).get_data(as_text=True)
    assert "— (noncompressible)" in page


def test_a_draft_may_be_incomplete_and_is_completed_later(coordinator, defier_m3):
    post_form(coordinator, ABI_URL, {"brachial_right": "140", "action": "draft"})
    entry = _entry("abi")
    assert entry.status is EntryStatus.DRAFT and db.session.get(AbiData, entry.id).brachial_right == 140
    page = coordinator.get(ABI_URL).get_data(as_text=True)
    assert 'value="140"' in page and "draft" in page
    post_form(coordinator, ABI_URL, {**ABI, "version": str(entry.version), "action": "complete"})
    assert _entry("abi").status is EntryStatus.COMPLETE


def test_a_draft_still_refuses_impossible_values(coordinator, defier_m3):
    page = post_form(coordinator, ABI_URL, {"brachial_right": "999", "action": "draft"}).get_data(as_text=True)
    assert "enter a whole number from 50 to 300 mmHg" in page and _entry("abi") is None


def test_a_field_may_carry_a_missing_code_with_a_reason(coordinator, defier_m3):
    data = {**ABI, "brachial_left": "", "brachial_left__missing": "not_done", "action": "complete"}
    page = post_form(coordinator, ABI_URL, data).get_data(as_text=True)
    assert "Brachial systolic, left arm (mmHg): give the reason it is not done." in page
    post_form(coordinator, ABI_URL, {**data, "brachial_left__reason": "left arm in a cast"})
    entry = _entry("abi")
    assert entry.status is EntryStatus.COMPLETE
    assert entry.missing == {"brachial_left": {"code": "not_done", "reason": "left arm in a cast"}}
    assert db.session.get(AbiData, entry.id).abi_left == Decimal("0.64")  # the right arm's pressure counts


def test_completing_needs_the_visit_date_but_a_draft_does_not(coordinator, make_subject, site):
    make_subject("defier", site, date(2027, 5, 1))
    url = "/subjects/DEF-SH01-0001/visits/m1/forms/abi"
    page = post_form(coordinator, url, {**ABI, "action": "complete"}).get_data(as_text=True)
    assert "Record the visit date before completing this form" in page and _entry("abi") is None
    post_form(coordinator, url, {**ABI, "action": "draft"})
    assert _entry("abi").status is EntryStatus.DRAFT


def test_a_save_over_a_newer_version_is_refused_and_the_input_kept(coordinator, defier_m3):
    post_form(coordinator, ABI_URL, {**ABI, "action": "complete"})
    entry = _entry("abi")
    opened = str(entry.version)  # two users open the form at this version
    post_form(coordinator, ABI_URL, {**ABI, "pt_right": "125", "version": opened, "reason_for_change": "typo", "action": "complete"})
    stale = post_form(coordinator, ABI_URL, {**ABI, "pt_right": "99", "version": opened, "reason_for_change": "typo", "action": "complete"}).get_data(
        as_text=True
    )
    assert "This form changed after you opened it: last saved by" in stale and "Posterior tibial, right (mmHg): saved as 125, you entered 99" in stale
    assert 'value="99"' in stale
    assert db.session.get(AbiData, entry.id).pt_right == 125


VILLALTA_URL = "/subjects/DFN-SH01-0001/visits/m6/forms/villalta"


def test_villalta_total_and_class_appear_on_save(coordinator, make_subject, site):
    subject = make_subject("defiance", site, date(2026, 12, 1))
    record_visit_date(subject.visits[3], date(2027, 5, 30))
    db.session.commit()
    items = {name: "0" for name in scales.VILLALTA_ITEMS}
    items.update({"pain": "3", "heaviness": "3", "pretibial_edema": "3", "skin_induration": "2", "hyperpigmentation": "3", "redness": "2"})
    page = post_form(coordinator, VILLALTA_URL, {**items, "leg": "left", "ulcer": "False", "action": "complete"}, follow_redirects=True).get_data(as_text=True)
    assert "16 of 33" in page and "severe" in page
    data = db.session.get(VillaltaData, _entry("villalta").id)
    assert (data.total, data.severity) == (16, "severe")


def test_the_visit_page_shows_each_forms_status(coordinator, defier_m3):
    def statuses() -> dict[str, str]:
        page = coordinator.get("/subjects/DEF-SH01-0001/visits/m3").get_data(as_text=True)
        return dict(re.findall(r'data-instrument="(\w+)">.*?form-status">([^<]+)<', page, re.S))

    assert statuses() == {
        "duplex": "not started",
        "abi": "not started",
        "rutherford": "not started",
        "adverse_events": "not started",
        "endpoint_events": "not started",
    }
    post_form(coordinator, ABI_URL, {"brachial_right": "140", "action": "draft"})
    assert statuses()["abi"] == "draft"
    post_form(coordinator, ABI_URL, {**ABI, "action": "complete"})
    token = csrf_token(coordinator, "/subjects/DEF-SH01-0001/visits/m3")
    coordinator.post("/subjects/DEF-SH01-0001/visits/m3/forms/adverse_events/none", data={"csrf_token": token})
    assert (statuses()["abi"], statuses()["adverse_events"]) == ("complete", "complete")


def test_a_leg_with_no_pedal_signal_shows_abi_0_00_no_signal_abnormal(coordinator, defier_m3):
    no_signal = {**ABI, "pt_left": "", "pt_left_finding": "not_measurable", "dp_left": "", "dp_left_finding": "not_measurable"}
    page = post_form(coordinator, ABI_URL, {**no_signal, "action": "complete"}, follow_redirects=True).get_data(as_text=True)
    assert "0.00 (abnormal, no signal)" in page
    data = db.session.get(AbiData, _entry("abi").id)
    assert (data.abi_left, data.band_left) == (Decimal("0.00"), "abnormal")


def test_one_artery_without_signal_leaves_the_abi_to_the_other(coordinator, defier_m3):
    post_form(coordinator, ABI_URL, {**ABI, "pt_left": "", "pt_left_finding": "not_measurable", "action": "complete"})
    assert db.session.get(AbiData, _entry("abi").id).abi_left == Decimal("0.60")  # 84 / 140


def test_the_post_procedure_abi_is_the_abi_form_entered_at_the_index_procedure(coordinator, defier_m3):
    url = "/subjects/DEF-SH01-0001/visits/baseline/forms/abi_post"
    page = coordinator.get(url).get_data(as_text=True)
    assert "Ankle-brachial index after the procedure" in page and "Posterior tibial, left (mmHg)" in page
    post_form(coordinator, url, {**ABI, "action": "complete"})
    entry = _entry("abi_post")
    assert entry.status is EntryStatus.COMPLETE and db.session.get(AbiData, entry.id).abi_left == Decimal("0.64")
