"""Flags: raised once, listed on the worklist, resolved when their cause goes away; the investigator's decision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from ecrf import scales
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.extensions import db
from ecrf.safety.models import Flag, FlagStatus
from ecrf.safety.services import refresh_flags
from ecrf.visits.services import mark_missed, record_visit_date
from tests.conftest import csrf_token

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)


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
    # No ABI after the procedure is entered, so the fall is measured from the value before it.
    assert flags("abi_drop")[0].message.startswith(
        "ABI decrease, left leg: 0.90 before the procedure (no value after it entered) to 0.75 at 3 months (fall of 0.15"
    )
    assert [f for f in refresh_flags([subject], now=NOW) if f.safety] == []  # raised once


def test_a_fall_below_the_threshold_raises_nothing(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    enter(subject, "baseline", "abi", **_abi(126, 110))
    enter(subject, "m3", "abi", **_abi(107, 100))  # 0.76: a fall of 0.14
    assert not [f for f in refresh_flags([subject], now=NOW) if f.safety]


@pytest.mark.parametrize(
    ("study", "setup", "kind"),
    [
        (
            "defier",
            lambda s: (enter(s, "baseline", "rutherford", limb="left", category=2), enter(s, "m3", "rutherford", limb="left", category=3)),
            "rutherford_worsening",
        ),
        (
            "leg-deb",
            lambda s: enter(s, "m6", "endpoint_events", event_type="amputation", event_date=date(2027, 5, 1), amputation_level="major", amputation_side="left"),
            "amputation",
        ),
        (
            "defiance",
            lambda s: enter(
                s,
                "m6",
                "villalta",
                leg="left",
                ulcer=False,
                **{n: 2 for n in ("pain", "cramps", "heaviness", "paresthesia", "pruritus", "pretibial_edema", "skin_induration", "hyperpigmentation")},
                redness=0,
                venous_ectasia=0,
                calf_compression_pain=0,
            ),
            "villalta_severe",
        ),
        (
            "defiance",
            lambda s: enter(
                s,
                "d90",
                "villalta",
                leg="left",
                ulcer=True,
                **{n: 0 for n in scales.VILLALTA_ITEMS},
            ),
            "villalta_severe",
        ),
        (
            "angel-icas",
            lambda s: enter(
                s,
                "h48",
                "imaging_ich",
                imaging_datetime=datetime(2027, 1, 2, 12, tzinfo=UTC),
                modality="ct",
                ich_present=True,
                heidelberg_class="2",
                symptomatic=True,
                nihss_increase=5,
            ),
            "ich_after_randomization",
        ),
        (
            "defier",
            lambda s: enter(s, "m1", "endpoint_events", event_type="death", event_date=date(2027, 1, 25), death_cardiovascular="yes", death_cause="Synthetic"),
            "early_death",
        ),
        (
            "precise-cal",
            lambda s: enter(
                s,
                "baseline",
                "perioperative_events",
                side_branch_loss=False,
                perforation=False,
                no_reflow=False,
                ctn_measured=True,
                ctn_unit="ng/mL",
                ctn_peak=Decimal("0.60"),
                ctn_uln=Decimal("0.04"),
                ckmb_measured=False,
            ),
            "periprocedural_mi",
        ),
        ("precise-cal", lambda s: enter(s, "m12", "qfr", angiography_date=date(2027, 12, 30), qfr_target_vessel=Decimal("0.80"), restenosis=False), "qfr_low"),
    ],
)
def test_each_safety_signal_of_the_protocols_raises_its_flag(make_subject, site, study, setup, kind):
    subject = make_subject(study, site, date(2027, 1, 1), index_time=None)
    setup(subject)
    assert kind in [f.kind for f in refresh_flags([subject], now=NOW) if f.safety]


# -- sICH in ANGEL-ICAS: symptomatic, within 48 h after the randomization instant -----------------------------

#: make_subject randomizes ANGEL-ICAS subjects at 09:00 in Shanghai on 2027-01-01, i.e. 01:00 UTC.
RANDOMIZED = datetime(2027, 1, 1, 1, 0, tzinfo=UTC)


def _scan(subject, after: timedelta, *, present: bool = True, symptomatic: bool | None = True, increase: int | None = 5):
    values = {"heidelberg_class": "2", "symptomatic": symptomatic, "nihss_increase": increase} if present else {}
    return enter(subject, "h48", "imaging_ich", imaging_datetime=RANDOMIZED + after, modality="ct", ich_present=present, **values)


def _sich(subject) -> list[Flag]:
    return [f for f in refresh_flags([subject], now=NOW) if f.kind == "ich_after_randomization"]


@pytest.fixture
def stroke_subject(make_subject, site):
    subject = make_subject("angel-icas", site, date(2027, 1, 1))
    assert subject.index_at == RANDOMIZED
    return subject


def test_a_haemorrhage_on_imaging_before_randomization_is_no_sich(stroke_subject):
    _scan(stroke_subject, -timedelta(minutes=30))  # exclusion 1, not the safety endpoint
    assert _sich(stroke_subject) == []


def test_an_asymptomatic_haemorrhage_is_recorded_but_raises_no_sich_flag(stroke_subject):
    _scan(stroke_subject, timedelta(hours=20), symptomatic=False, increase=1)
    assert _sich(stroke_subject) == []


@pytest.mark.parametrize(
    ("symptomatic", "increase", "flagged"),
    [
        (True, 2, True),  # the investigator's judgement (e.g. a major intervention), below the NIHSS criterion
        (False, 4, True),  # the computed Heidelberg NIHSS criterion, against the investigator's "no"
        (False, 3, False),  # neither
    ],
)
def test_a_haemorrhage_is_symptomatic_when_the_investigator_or_the_heidelberg_nihss_criterion_says_so(stroke_subject, symptomatic, increase, flagged):
    _scan(stroke_subject, timedelta(hours=20), symptomatic=symptomatic, increase=increase)
    assert len(_sich(stroke_subject)) == (1 if flagged else 0)


def test_the_protocol_chooses_who_makes_a_haemorrhage_symptomatic():
    from ecrf.protocols import protocol_for

    assert protocol_for("angel-icas").safety.sich_symptomatic_by == "either"


def test_several_scans_within_48_hours_give_one_flag_named_by_the_earliest_sich(stroke_subject):
    _scan(stroke_subject, timedelta(hours=6), symptomatic=False, increase=0)
    _scan(stroke_subject, timedelta(hours=30, minutes=30))
    _scan(stroke_subject, timedelta(hours=47, minutes=59, seconds=59))
    _scan(stroke_subject, timedelta(hours=48, seconds=1))  # after the 48 h
    [flag] = _sich(stroke_subject)
    assert flag.message == (
        "Symptomatic intracranial haemorrhage within 48 h after randomization: on imaging 30.5 h after randomization "
        "(investigator, NIHSS up 5 points); 1 more finding(s)"
    )
    assert db.session.get(CrfEntry, flag.entry_id).sequence == 2
    assert _sich(stroke_subject) == []  # raised once


@pytest.mark.parametrize(
    ("event_date", "symptomatic", "flagged"),
    [
        (date(2027, 1, 2), True, True),
        (date(2027, 1, 3), True, True),  # the window ends 2027-01-03 09:00 at the site
        (date(2027, 1, 2), False, False),
        (date(2027, 1, 4), True, False),
    ],
)
def test_an_sich_entered_as_an_endpoint_event_flags_too(stroke_subject, event_date, symptomatic, flagged):
    enter(stroke_subject, "d7", "endpoint_events", event_type="intracranial_haemorrhage", event_date=event_date, ich_class="2", ich_symptomatic=symptomatic)
    found = _sich(stroke_subject)
    assert len(found) == (1 if flagged else 0)
    if flagged:
        assert found[0].message.endswith(f"entered as an endpoint event dated {event_date.isoformat()} (day {(event_date - date(2027, 1, 1)).days})")


def test_the_48_hour_clock_starts_at_the_randomization_second(cli, site, make_screening, clock):
    from ecrf.screening.services import enrol_from_screening

    cli.invoke(args=["ecrf", "randomization", "generate", "angel-icas", "--seed", "5", "--per-stratum", "4"])
    randomized = datetime(2027, 1, 1, 1, 0, 40, tzinfo=UTC)
    with clock(randomized):
        subject = enrol_from_screening(make_screening("angel-icas", site), consent_date=date(2027, 1, 1), at=randomized)
    assert subject.index_at == subject.randomized_at == randomized  # seconds kept
    enter(
        subject,
        "h48",
        "imaging_ich",
        imaging_datetime=randomized - timedelta(seconds=20),
        modality="ct",
        ich_present=True,
        heidelberg_class="2",
        symptomatic=True,
        nihss_increase=5,
    )  # 20 s before randomization
    assert _sich(subject) == []
    enter(
        subject,
        "h48",
        "imaging_ich",
        imaging_datetime=randomized + timedelta(hours=48, seconds=-10),
        modality="ct",
        ich_present=True,
        heidelberg_class="2",
        symptomatic=True,
        nihss_increase=5,
    )  # 10 s inside the 48 h
    [flag] = _sich(subject)
    assert "47.9 h after randomization" in flag.message


@pytest.mark.parametrize(
    ("ctn_peak", "ckmb_peak", "found"),
    [
        (Decimal("0.050"), Decimal("5.040"), "CK-MB 5.0 \u00d7 ULN (5.040, above 5.0)"),  # 5.04x CK-MB alone, shown rounded
        (Decimal("0.201"), Decimal("1.000"), "Troponin (cTn) 5.0 \u00d7 ULN (5.025, above 5.0)"),
        (Decimal("0.050"), Decimal("5.000"), None),  # 5.0x exactly is not "> 5x"
    ],
)
def test_periprocedural_mi_flags_either_marker_judged_unrounded(make_subject, site, ctn_peak, ckmb_peak, found):
    subject = make_subject("precise-cal", site, date(2027, 1, 1))
    enter(
        subject,
        "baseline",
        "perioperative_events",
        side_branch_loss=False,
        perforation=False,
        no_reflow=False,
        ctn_measured=True,
        ctn_unit="ng/mL",
        ctn_uln=Decimal("0.040"),
        ctn_pre=Decimal("0.010"),
        ctn_peak=ctn_peak,
        ckmb_measured=True,
        ckmb_unit="ng/mL",
        ckmb_uln=Decimal("1.000"),
        ckmb_pre=Decimal("0.500"),
        ckmb_peak=ckmb_peak,
    )
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
    entry = enter(
        subject,
        "m3",
        "adverse_events",
        ae_term="Groin haematoma",
        onset_date="2027-05-30",
        ongoing=True,
        serious=True,
        sae_hospitalisation=True,
        severity="moderate",
        aware_at=aware,
    )
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
    entry = save_entry(subject.visits[2], instrument("adverse_events"), EntryInput(values=values, missing=missing, complete=True), entry=None)
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


# -- issue 10: loss of the procedural gain, PTS after the acute phase, amputation by protocol ----------


def _left(pt: int | None, dp: int | None = 80, no_signal: bool = False) -> dict:
    """An ABI whose left leg is pt/140 (or has no pedal signal), the right leg fixed."""
    if no_signal:
        return {**_abi(None, None), "pt_left_finding": "not_measurable", "dp_left_finding": "not_measurable"}
    return _abi(pt, dp)


def _safety(subject) -> dict[str, str]:
    return {f.kind: f.message for f in refresh_flags([subject], now=NOW) if f.safety}


@pytest.mark.parametrize(("study", "follow_up", "label"), [("defier", "m3", "3 months"), ("leg-deb", "m6", "6 months")])
def test_an_abi_gain_lost_after_the_procedure_flags_the_fall_from_the_post_procedure_abi_and_the_return(make_subject, site, study, follow_up, label):
    subject = make_subject(study, site, date(2026, 12, 1))
    enter(subject, "baseline", "abi", **_left(84))  # 0.60 before the procedure
    enter(subject, "baseline", "abi_post", **_left(133))  # 0.95 after it
    enter(subject, follow_up, "abi", **_left(87))  # 0.62
    found = _safety(subject)
    assert found["abi_drop"] == (
        f"ABI decrease, left leg: 0.95 after the procedure (best value since the procedure) to 0.62 at {label} (fall of 0.33, threshold 0.15)"
    )
    assert found["abi_return"] == (
        f"ABI back to the pre-procedure value, left leg: 0.62 at {label}, 0.60 before the procedure "
        f"(less than 0.10 above it; it had reached 0.95 after the procedure)"
    )


def test_the_abi_fall_is_measured_from_the_best_value_since_the_procedure(make_subject, site):
    subject = make_subject("defier", site, date(2026, 12, 1))
    enter(subject, "baseline", "abi", **_left(84))  # 0.60
    enter(subject, "baseline", "abi_post", **_left(112))  # 0.80
    enter(subject, "m1", "abi", **_left(133))  # 0.95: the best so far
    enter(subject, "m3", "abi", **_left(109))  # 0.78: 0.02 below the post-procedure value, 0.17 below the best
    assert _safety(subject)["abi_drop"].startswith("ABI decrease, left leg: 0.95 at 1 month (best value since the procedure) to 0.78 at 3 months")


def test_an_abi_back_near_the_pre_procedure_value_is_flagged_even_without_a_fall_of_0_15(make_subject, site):
    subject = make_subject("defier", site, date(2026, 12, 1))
    enter(subject, "baseline", "abi", **_left(84))  # 0.60
    enter(subject, "baseline", "abi_post", **_left(105))  # 0.75: a gain of 0.15
    enter(subject, "m3", "abi", **_left(91))  # 0.65: a fall of 0.10 only, but 0.05 above where it started
    assert list(_safety(subject)) == ["abi_return"]


def test_no_return_is_flagged_when_the_procedure_never_gained_0_10(make_subject, site):
    subject = make_subject("defier", site, date(2026, 12, 1))
    enter(subject, "baseline", "abi", **_left(84))  # 0.60
    enter(subject, "baseline", "abi_post", **_left(91))  # 0.65
    enter(subject, "m3", "abi", **_left(87))  # 0.62
    assert _safety(subject) == {}


def test_a_leg_with_no_pedal_signal_counts_as_abi_0_00_for_the_fall(make_subject, site):
    subject = make_subject("defier", site, date(2026, 12, 1))
    enter(subject, "baseline", "abi", **_left(84))
    enter(subject, "baseline", "abi_post", **_left(133))
    enter(subject, "m3", "abi", **_left(None, no_signal=True))
    found = _safety(subject)
    assert found["abi_drop"] == (
        "ABI decrease, left leg: 0.95 after the procedure (best value since the procedure) to 0.00 (no signal) at 3 months (fall of 0.95, threshold 0.15)"
    )
    assert "abi_return" in found


def test_rutherford_4_then_1_then_4_is_a_worsening_from_the_best_category_and_a_return(make_subject, site):
    subject = make_subject("defier", site, date(2026, 12, 1))
    enter(subject, "baseline", "rutherford", limb="left", category=4)
    enter(subject, "m1", "rutherford", limb="left", category=1)
    enter(subject, "m3", "rutherford", limb="left", category=4)
    found = _safety(subject)
    assert found["rutherford_worsening"] == (
        "Rutherford worsening, left leg: category 1 at 1 month (best since the procedure) to 4 at 3 months (worse by 3, threshold 1)"
    )
    assert found["rutherford_return"] == (
        "Rutherford back to the pre-procedure category, left leg: 4 at 3 months, 4 before the procedure (it had improved to 1 at 1 month)"
    )


def test_a_rutherford_worse_at_the_first_follow_up_is_judged_against_the_pre_procedure_category_and_flagged_once(make_subject, site):
    subject = make_subject("defier", site, date(2026, 12, 1))
    enter(subject, "baseline", "rutherford", limb="left", category=3)
    enter(subject, "m1", "rutherford", limb="left", category=4)
    enter(subject, "m3", "rutherford", limb="left", category=4)
    raised = [f for f in refresh_flags([subject], now=NOW) if f.safety]
    assert [f.message for f in raised] == ["Rutherford worsening, left leg: category 3 before the procedure to 4 at 1 month (worse by 1, threshold 1)"]


@pytest.mark.parametrize(("visit", "flagged"), [("baseline", False), ("d30", False), ("d90", True), ("m6", True)])
def test_severe_pts_is_judged_only_from_the_protocols_day_on_never_at_baseline(make_subject, site, visit, flagged):
    subject = make_subject("defiance", site, date(2026, 12, 1), arm="clottriever")
    items = {n: 2 for n in ("pain", "cramps", "heaviness", "paresthesia", "pruritus", "pretibial_edema", "skin_induration", "hyperpigmentation")}
    enter(subject, visit, "villalta", leg="left", ulcer=True, redness=0, venous_ectasia=0, calf_compression_pain=0, **items)  # 16 and an ulcer
    assert ("villalta_severe" in _safety(subject)) is flagged


@pytest.mark.parametrize(
    ("study", "level", "kind"),
    [
        ("leg-deb", "minor", "amputation"),
        ("leg-deb", "major", "amputation"),
        ("defier", "major", "major_amputation"),
        ("defier", "minor", None),
    ],
)
def test_leg_deb_flags_any_amputation_and_defier_major_only(make_subject, site, study, level, kind):
    subject = make_subject(study, site, date(2026, 12, 1))
    enter(
        subject,
        "m6",
        "endpoint_events",
        event_type="amputation",
        event_date=date(2027, 5, 1),
        amputation_level=level,
        amputation_side="left",
        amputation_planned=False,
    )
    found = _safety(subject)
    assert list(found) == ([kind] if kind else [])
    if kind:
        assert found[kind] == f"{level.capitalize()} amputation, left, unplanned, 2027-05-01"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"villalta_pts_from_day": None}, "defiance.yaml: safety: villalta_pts_from_day: required with villalta_severe"),
        ({"villalta_pts_from_day": 0}, "defiance.yaml: safety.villalta_pts_from_day: Input should be greater than or equal to 1"),
        ({"villalta_pts_from_day": 400}, "defiance.yaml: safety.villalta_pts_from_day: no visit on or after day 400"),
        ({"amputation": "minor"}, "defiance.yaml: safety.amputation: Input should be 'any' or 'major'"),
    ],
)
def test_the_safety_parameters_of_issue_10_are_checked_when_the_protocol_loads(tmp_path, change, message):
    import yaml

    from ecrf.protocols import ProtocolError, load_protocol
    from tests.test_protocols import PROTOCOL_DIR

    data = yaml.safe_load((PROTOCOL_DIR / "defiance.yaml").read_text())
    data["safety"].update(change)
    data["safety"] = {key: value for key, value in data["safety"].items() if value is not None}
    (tmp_path / "defiance.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ProtocolError) as caught:
        load_protocol(tmp_path / "defiance.yaml")
    assert str(caught.value).startswith(message)
