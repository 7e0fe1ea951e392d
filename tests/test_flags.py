"""Flags: raised once, listed on the worklist, resolved when their cause goes away; the investigator's decision."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.extensions import db
from ecrf.safety.models import Flag, FlagStatus
from ecrf.safety.services import refresh_flags
from ecrf.visits.services import mark_missed, record_visit_date
from tests.conftest import csrf_token

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=timezone.utc)


def enter(subject, visit_code: str, code: str, **values) -> CrfEntry:
    """A complete entry with these values (and its computed ones), straight into the tables."""
    visit = next(v for v in subject.visits if v.definition.code == visit_code)
    item = instrument(code)
    sequence = 1 + (db.session.scalar(select(func.max(CrfEntry.sequence)).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == code)) or 0)
    entry = CrfEntry(subject_id=subject.id, visit_id=visit.id, instrument=code, sequence=sequence, status=EntryStatus.COMPLETE, updated_at=NOW)
    db.session.add(entry)
    db.session.flush()
    data = item.model(entry_id=entry.id, **values)
    if item.compute:
        from ecrf.crfs.services import form_context

        item.compute(data, form_context(subject, visit))
    db.session.add(data)
    db.session.flush()
    return entry


def flags(kind: str | None = None) -> list[Flag]:
    stmt = select(Flag).order_by(Flag.id)
    return db.session.scalars(stmt.where(Flag.kind == kind) if kind else stmt).all()


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "defiance", "angel-icas", "precise-cal", "leg-deb"])


def _abi(pt: int, dp: int) -> dict:
    return {"target_limb": "left", "brachial_right": 140, "brachial_left": 130, "pt_right": 120, "dp_right": 110, "pt_left": pt, "dp_left": dp}


def test_an_abi_fall_of_0_15_from_baseline_is_a_safety_flag_raised_once(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    enter(subject, "baseline", "abi", **_abi(126, 110))  # left 0.90
    enter(subject, "m3", "abi", **_abi(105, 100))  # left 0.75: a fall of 0.15
    raised = refresh_flags([subject], now=NOW)
    assert [f.kind for f in raised if f.safety] == ["abi_drop"]
    assert flags("abi_drop")[0].message.startswith("ABI decrease, left leg: 0.90 at baseline to 0.75 at 3 months (fall of 0.15")
    assert [f for f in refresh_flags([subject], now=NOW) if f.safety] == []  # raised once


def test_a_fall_below_the_threshold_raises_nothing(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    enter(subject, "baseline", "abi", **_abi(126, 110))
    enter(subject, "m3", "abi", **_abi(107, 100))  # 0.76: a fall of 0.14
    assert not [f for f in refresh_flags([subject], now=NOW) if f.safety]


@pytest.mark.parametrize(("study", "setup", "kind"), [
    ("defier", lambda s: (enter(s, "baseline", "rutherford", limb="left", category=2), enter(s, "m3", "rutherford", limb="left", category=3)), "rutherford_worsening"),
    ("leg-deb", lambda s: enter(s, "m6", "endpoint_events", event_type="amputation", event_date=date(2027, 5, 1), amputation_level="major", amputation_side="left"), "major_amputation"),
    ("defiance", lambda s: enter(s, "m6", "villalta", leg="left", ulcer=False, **{n: 2 for n in ("pain", "cramps", "heaviness", "paresthesia", "pruritus", "pretibial_edema", "skin_induration", "hyperpigmentation")}, redness=0, venous_ectasia=0, calf_compression_pain=0), "villalta_severe"),
    ("defiance", lambda s: enter(s, "d30", "villalta", leg="left", ulcer=True, **{n: 0 for n in ("pain", "cramps", "heaviness", "paresthesia", "pruritus", "pretibial_edema", "skin_induration", "hyperpigmentation", "redness", "venous_ectasia", "calf_compression_pain")}), "villalta_severe"),
    ("angel-icas", lambda s: enter(s, "h48", "imaging_ich", imaging_datetime=datetime(2027, 1, 2, 12, tzinfo=timezone.utc), modality="ct", ich_present=True), "ich_after_randomization"),
    ("defier", lambda s: enter(s, "m1", "endpoint_events", event_type="death", event_date=date(2027, 1, 25), death_cardiovascular="yes", death_cause="Synthetic"), "early_death"),
    ("precise-cal", lambda s: enter(s, "baseline", "perioperative_events", side_branch_loss=False, perforation=False, no_reflow=False, ctn_measured=True, ctn_unit="ng/mL", ctn_peak=Decimal("0.60"), ctn_uln=Decimal("0.04"), ckmb_measured=False), "periprocedural_mi"),
    ("precise-cal", lambda s: enter(s, "m12", "qfr", angiography_date=date(2027, 12, 30), qfr_target_vessel=Decimal("0.80"), restenosis=False), "qfr_low"),
])
def test_each_safety_signal_of_the_protocols_raises_its_flag(make_subject, site, study, setup, kind):
    subject = make_subject(study, site, date(2027, 1, 1), index_time=None)
    setup(subject)
    assert kind in [f.kind for f in refresh_flags([subject], now=NOW) if f.safety]


@pytest.mark.parametrize(("ctn_peak", "ckmb_peak", "found"), [
    (Decimal("0.050"), Decimal("5.040"), "CK-MB 5.0 \u00d7 ULN (5.040, above 5.0)"),  # 5.04x CK-MB alone, shown rounded
    (Decimal("0.201"), Decimal("1.000"), "Troponin (cTn) 5.0 \u00d7 ULN (5.025, above 5.0)"),
    (Decimal("0.050"), Decimal("5.000"), None),  # 5.0x exactly is not "> 5x"
])
def test_periprocedural_mi_flags_either_marker_judged_unrounded(make_subject, site, ctn_peak, ckmb_peak, found):
    subject = make_subject("precise-cal", site, date(2027, 1, 1))
    enter(subject, "baseline", "perioperative_events", side_branch_loss=False, perforation=False, no_reflow=False,
          ctn_measured=True, ctn_unit="ng/mL", ctn_uln=Decimal("0.040"), ctn_pre=Decimal("0.010"), ctn_peak=ctn_peak,
          ckmb_measured=True, ckmb_unit="ng/mL", ckmb_uln=Decimal("1.000"), ckmb_pre=Decimal("0.500"), ckmb_peak=ckmb_peak)
    raised = [f for f in refresh_flags([subject], now=NOW) if f.kind == "periprocedural_mi"]
    if found is None:
        assert raised == []
    else:
        assert [f.message for f in raised] == [f"Periprocedural MI: {found} (> 5\u00d7 ULN)"]


def test_a_signal_of_another_study_is_not_raised(make_subject, site):
    subject = make_subject("precise-cal", site, date(2027, 1, 1))
    enter(subject, "m6", "endpoint_events", event_type="amputation", event_date=date(2027, 5, 1), amputation_level="major", amputation_side="left")
    assert not [f for f in refresh_flags([subject], now=NOW) if f.safety]  # major amputation is a rule of DEFIER and LEG-DEB only


def test_an_overdue_visit_flag_resolves_when_the_visit_is_done_or_missed(make_subject, site):
    first = make_subject("defier", site, date(2027, 1, 1))
    second = make_subject("defier", site, date(2027, 1, 1))
    refresh_flags([first, second], now=NOW)
    assert {f.key for f in flags("visit_overdue")} >= {f"visit_overdue:{first.visits[1].id}", f"visit_overdue:{second.visits[1].id}"}
    record_visit_date(first.visits[1], date(2027, 2, 4), deviation_reason="late")
    mark_missed(second.visits[1], "Patient abroad")
    closed = {f.key: f.status for f in flags("visit_overdue")}
    assert closed[f"visit_overdue:{first.visits[1].id}"] is FlagStatus.RESOLVED
    assert closed[f"visit_overdue:{second.visits[1].id}"] is FlagStatus.RESOLVED


def test_a_late_sae_report_is_flagged_and_resolved_once_reported(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1))
    aware = NOW - timedelta(hours=30)
    entry = enter(subject, "m3", "adverse_events", ae_term="Groin haematoma", onset_date="2027-05-30", ongoing=True, serious=True,
                  sae_hospitalisation=True, severity="moderate", aware_at=aware)
    (flag,) = [f for f in refresh_flags([subject], now=NOW) if f.kind == "sae_report_late"]
    assert "not reported to the sponsor within 24 h" in flag.message
    db.session.get(instrument("adverse_events").model, entry.id).reported_at = NOW
    refresh_flags([subject], now=NOW)
    assert flags("sae_report_late")[0].status is FlagStatus.RESOLVED


def test_seriousness_coded_unknown_starts_the_sae_report_clock_as_a_precaution(make_subject, site):
    from ecrf.crfs.input import EntryInput
    from ecrf.crfs.services import save_entry

    subject = make_subject("defier", site, date(2027, 1, 1), consent_date=date(2026, 12, 28))
    aware = NOW - timedelta(hours=30)
    values = {"ae_term": "Fever", "onset_date": "2027-05-30", "ongoing": True, "serious": None, "aware_at": aware}
    missing = {"serious": {"code": "unknown", "reason": "awaiting the discharge letter"}}
    entry = save_entry(subject.visits[2], instrument("adverse_events"), EntryInput(values=values, missing=missing, complete=True), entry=None, by=None)
    assert db.session.get(instrument("adverse_events").model, entry.id).sae_report_due_at == aware + timedelta(hours=24)
    refresh_flags([subject], now=NOW)
    (flag,) = flags("sae_report_late")
    assert flag.message.startswith("Adverse event of unknown seriousness \u201cFever\u201d not reported to the sponsor within 24 h")


def test_an_ongoing_ae_without_update_for_30_days_is_flagged(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1))
    entry = enter(subject, "m1", "adverse_events", ae_term="Claudication", onset_date="2027-02", ongoing=True, serious=False)
    entry.updated_at = NOW - timedelta(days=31)
    assert [f.kind for f in refresh_flags([subject], now=NOW)].count("ae_not_updated") == 1
    entry.updated_at = NOW - timedelta(days=29)
    refresh_flags([subject], now=NOW)
    assert all(f.status is FlagStatus.RESOLVED for f in flags("ae_not_updated"))


# -- journeys 3 and 4: the investigator confirms or dismisses ------------------------------------------

@pytest.fixture
def abi_flag(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    enter(subject, "baseline", "abi", **_abi(126, 110))
    enter(subject, "m3", "abi", **_abi(98, 90))
    refresh_flags([subject], now=NOW)
    db.session.commit()
    return flags("abi_drop")[0]


def test_the_flag_reaches_the_investigator_who_confirms_it_and_an_ae_form_opens_prefilled(abi_flag, make_user, site, login, client):
    investigator = make_user("pi@example.org", [("defier", site, Role.INVESTIGATOR)])
    login(investigator)
    worklist = client.get("/").get_data(as_text=True)
    assert f"/flags/{abi_flag.id}" in worklist and "ABI decrease, left leg" in worklist
    mark = db.session.scalar(select(func.max(AuditEvent.id)))
    response = client.post(f"/flags/{abi_flag.id}", data={"action": "confirm", "csrf_token": csrf_token(client, f"/flags/{abi_flag.id}")})
    assert response.status_code == 302 and "/visits/m3/forms/adverse_events/" in response.location
    page = client.get(response.location).get_data(as_text=True)
    assert 'value="ABI decrease, left leg"' in page and 'value="2027-04-01"' in page
    db.session.refresh(abi_flag)
    assert abi_flag.status is FlagStatus.CONFIRMED and abi_flag.decided_by_id == investigator.id
    audited = db.session.scalars(select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.object_type == "flags", AuditEvent.field == "status")).all()
    assert [(e.new_value, e.user_email) for e in audited] == [("confirmed", "pi@example.org")]
    assert f"/flags/{abi_flag.id}" not in client.get("/").get_data(as_text=True)


def test_dismissing_a_flag_needs_a_reason_and_only_an_investigator_decides(abi_flag, make_user, site, login, client):
    coordinator = make_user("c@example.org", [("defier", site, Role.COORDINATOR)])
    login(coordinator)
    url = f"/flags/{abi_flag.id}"
    assert client.post(url, data={"action": "dismiss", "reason": "x", "csrf_token": csrf_token(client, url)}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(make_user("pi@example.org", [("defier", site, Role.INVESTIGATOR)]))
    client.post(url, data={"action": "dismiss", "reason": "", "csrf_token": csrf_token(client, url)})
    db.session.refresh(abi_flag)
    assert abi_flag.status is FlagStatus.OPEN
    client.post(url, data={"action": "dismiss", "reason": "Measurement error: cuff too small", "csrf_token": csrf_token(client, url)})
    db.session.refresh(abi_flag)
    assert (abi_flag.status, abi_flag.decision_reason) == (FlagStatus.DISMISSED, "Measurement error: cuff too small")


def test_a_safety_signal_is_raised_when_the_form_is_saved(make_subject, site, make_user, login, client):
    from tests.conftest import post_form

    subject = make_subject("defiance", site, date(2026, 12, 1), arm="clottriever")
    record_visit_date(subject.visits[3], date(2027, 5, 30))
    db.session.commit()
    login(make_user("c@example.org", [("defiance", site, Role.COORDINATOR)]))
    items = {n: "2" for n in ("pain", "cramps", "heaviness", "paresthesia", "pruritus", "pretibial_edema", "skin_induration", "hyperpigmentation")}
    items.update({"redness": "0", "venous_ectasia": "0", "calf_compression_pain": "0"})
    post_form(client, f"/subjects/{subject.subject_code}/visits/m6/forms/villalta", {**items, "leg": "left", "ulcer": "False", "action": "complete"})
    (flag,) = flags("villalta_severe")
    assert flag.message == "Severe post-thrombotic syndrome at 6 months: Villalta 16 (\u2265 15)"


def test_the_site_pass_finds_the_same_flags_as_subject_by_subject(make_subject, site):
    from ecrf.safety.services import refresh_site_flags

    subjects = [make_subject("defier", site, date(2027, 1, 1) + timedelta(days=7 * n), arm="des") for n in range(6)]
    enter(subjects[0], "baseline", "abi", **_abi(126, 110))
    enter(subjects[0], "m3", "abi", **_abi(98, 90))
    enter(subjects[1], "m1", "endpoint_events", event_type="death", event_date=date(2027, 1, 20), death_cardiovascular="no", death_cause="Synthetic")
    record_visit_date(subjects[2].visits[1], subjects[2].visits[1].target_date)
    db.session.execute(delete(Flag))  # saving raised some already; start both ways from none
    db.session.commit()
    by_site = {f.key for f in refresh_site_flags(site, date(2027, 6, 1), NOW)}
    db.session.rollback()
    by_subject = {f.key for f in refresh_flags(subjects, now=NOW, today=lambda subject: date(2027, 6, 1))}
    assert by_site == by_subject and any(key.startswith("abi_drop") for key in by_site) and any(key.startswith("early_death") for key in by_site)
