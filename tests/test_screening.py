"""Screening log, eligibility from the protocol files, consent, and enrolment from a screening record."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ecrf.auth.models import Role
from ecrf.extensions import db
from ecrf.protocols import protocols
from ecrf.screening.eligibility import derive, eligible_example, failed_gates, judge
from ecrf.screening.models import ScreeningOutcome, ScreeningRecord
from ecrf.subjects.models import Subject
from tests.conftest import post_form

NOW = datetime(2027, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture
def shanghai(make_site):
    return make_site("SH01", list(protocols()))


@pytest.fixture
def coordinator(make_user, shanghai, login):
    return login(make_user("coord@example.org", [(s, shanghai, Role.COORDINATOR) for s in protocols()]))


def subjects() -> list[Subject]:
    db.session.expire_all()
    return db.session.scalars(select(Subject).order_by(Subject.subject_code)).all()


# -- eligibility, judged from the protocol files -----------------------------------------------


@pytest.mark.parametrize(
    ("study", "field", "value", "criterion"),
    [
        ("defier", "age_years", 17, "age"),
        ("defier", "rutherford", 1, "rutherford"),
        ("defier", "rutherford", 6, "rutherford"),
        ("defier", "lesion_length_mm", 301, "lesion_length"),
        ("defiance", "villalta_total", 9, "villalta"),
        ("defiance", "symptom_onset_days", 85, "symptom_onset"),
        ("defiance", "hemoglobin_g_dl", Decimal("7.9"), "lab_abnormality"),
        ("defiance", "inr", Decimal("1.71"), "lab_abnormality"),
        ("angel-icas", "nihss", 5, "nihss"),
        ("angel-icas", "aspects", 5, "aspects"),
        ("angel-icas", "prestroke_mrs", 2, "prestroke_mrs"),
        ("angel-icas", "hours_since_last_known_well", Decimal("24.1"), "within_24h"),
        ("angel-icas", "platelets_10e9_l", 99, "coagulopathy"),
        ("angel-icas", "creatinine_umol_l", 221, "renal"),
        ("angel-icas", "residual_stenosis_pct", 49, "residual_stenosis"),
        ("precise-cal", "qfr_post_modification", Decimal("0.80"), "qfr_after_modification"),
        ("precise-cal", "vessel_diameter_mm", Decimal("2.24"), "vessel_diameter"),
        ("precise-cal", "vessel_diameter_mm", Decimal("4.01"), "vessel_diameter"),
    ],
)
def test_each_numeric_criterion_is_judged_from_the_value_entered(study, field, value, criterion):
    protocol = protocols()[study]
    numbers, answers = eligible_example(protocol)
    assert judge(protocol, numbers, answers).eligible
    judgement = judge(protocol, {**numbers, field: Decimal(value)}, answers)
    codes = {c.code for c in protocol.eligibility.inclusion + protocol.eligibility.exclusion}
    assert judgement.failed and all(code in codes for code in judgement.failed)
    assert any(criterion in code for code in judgement.failed), judgement.failed


def test_a_value_not_entered_leaves_its_criterion_unanswered_except_days_since_an_event_that_never_happened():
    protocol = protocols()["defier"]
    numbers, answers = eligible_example(protocol)
    without_age = judge(protocol, {k: v for k, v in numbers.items() if k != "age_years"}, answers)
    assert without_age.unanswered == ["age"] and not without_age.eligible
    no_stroke = judge(protocol, {k: v for k, v in numbers.items() if k != "days_since_stroke"}, answers)
    assert no_stroke.eligible


def test_derived_values_count_days_to_the_given_date_and_hours_to_now():
    numbers = derive({"symptom_onset_days": "2027-01-01", "hours_since_last_known_well": "2027-03-09T16:00:00+00:00"}, counted_to=date(2027, 3, 10), at=NOW)
    assert numbers == {"symptom_onset_days": Decimal(68), "hours_since_last_known_well": Decimal(12)}


@pytest.mark.parametrize(
    ("study", "field", "value", "gate"),
    [
        ("precise-cal", "qfr_post_modification", Decimal("0.78"), "qfr_after_modification"),
        ("angel-icas", "residual_stenosis_pct", Decimal(49), "residual_stenosis"),
    ],
)
def test_randomization_conditions_are_judged_separately(study, field, value, gate):
    protocol = protocols()[study]
    numbers, _ = eligible_example(protocol)
    assert failed_gates(protocol, numbers) == []
    assert [g.code for g in failed_gates(protocol, {**numbers, field: value})] == [gate]
    assert [g.code for g in failed_gates(protocol, {k: v for k, v in numbers.items() if k != field})] == [gate]


# -- the screening log -----------------------------------------------------------------------------


def _screen(client, study: str, values: dict) -> str:
    response = post_form(client, f"/studies/{study}/sites/SH01/screening/new", values)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response.location


def _eligible_form(study: str, **changes) -> dict:
    protocol = protocols()[study]
    numbers, answers = eligible_example(protocol)
    from ecrf.screening.fields import SCREENING_FIELDS
    from forms.screening import answer_name

    values: dict = {"screening_date": "2027-03-10"}
    for code, number in numbers.items():
        spec = SCREENING_FIELDS[code]
        if spec.entered_as == "date":
            values[spec.input_name] = (date(2027, 3, 10) - timedelta(days=int(number))).isoformat()
        elif spec.entered_as == "datetime":
            values[spec.input_name] = (datetime(2027, 3, 10, 12, 0) - timedelta(hours=float(number) - 0.1)).strftime("%Y-%m-%dT%H:%M")
        else:
            values[spec.input_name] = str(number)
    values.update({answer_name(code): str(met) for code, met in answers.items()})
    values.update(changes)
    return values


def test_screening_a_patient_gives_a_screening_number_and_an_outcome(client, coordinator):
    location = _screen(client, "precise-cal", _eligible_form("precise-cal"))
    assert location == "/screening/SCR-PCL-SH01-0001"
    page = client.get(location).get_data(as_text=True)
    assert 'id="outcome">eligible' in page and "Enrol and randomize" in page
    _screen(client, "precise-cal", _eligible_form("precise-cal"))
    assert db.session.scalar(select(func.max(ScreeningRecord.screening_number))) == "SCR-PCL-SH01-0002"


def test_a_screen_failure_lists_the_criteria_it_failed(client, coordinator):
    location = _screen(client, "precise-cal", _eligible_form("precise-cal", qfr_post_modification="0.78"))
    page = client.get(location).get_data(as_text=True)
    assert "screen failure" in page and "QFR &gt; 0.8 after calcification modification" in page.replace("&#34;", '"')
    record = db.session.scalar(select(ScreeningRecord))
    assert record.outcome is ScreeningOutcome.SCREEN_FAILURE and record.failed_criteria == ["qfr_after_modification"]


def test_a_value_out_of_range_is_refused_naming_the_field_and_keeping_the_input(client, coordinator):
    page = post_form(client, "/studies/defier/sites/SH01/screening/new", _eligible_form("defier", age_years="200")).get_data(as_text=True)
    assert "Age: enter a whole number from 0 to 120 years." in page and 'value="200"' in page
    assert db.session.scalar(select(func.count(ScreeningRecord.id))) == 0


def test_the_log_is_filtered_and_counted_per_site(client, coordinator, make_site, make_screening, make_user, login):
    beijing = make_site("BJ01", ["defier"])
    make_screening("defier", beijing)
    _screen(client, "defier", _eligible_form("defier"))
    _screen(client, "defier", _eligible_form("defier", age_years="17"))
    page = client.get("/studies/defier/screening").get_data(as_text=True)
    assert "SCR-DEF-BJ01" not in page  # not her site
    counts = re.search(r'data-site="SH01">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-outcome="eligible">1<', counts) and re.search(r'data-outcome="screen_failure">1<', counts)
    failures = client.get("/studies/defier/screening?outcome=screen_failure").get_data(as_text=True)
    assert "SCR-DEF-SH01-0002" in failures and "SCR-DEF-SH01-0001</a>" not in failures
    none = client.get("/studies/defier/screening?from=2027-03-11").get_data(as_text=True)
    assert "No screening records match." in none


def test_a_monitor_reads_the_log_but_cannot_screen(client, make_user, shanghai, login, make_screening):
    make_screening("defier", shanghai)
    login(make_user("m@example.org", [("defier", shanghai, Role.MONITOR)]))
    assert "SCR-DEF-SH01-0001" in client.get("/studies/defier/screening").get_data(as_text=True)
    assert client.get("/studies/defier/sites/SH01/screening/new").status_code == 403
    assert client.get("/screening/SCR-DEF-SH01-0001/enrol").status_code == 403


# -- enrolment --------------------------------------------------------------------------------------


def test_enrolling_in_a_chosen_cohort_study_gives_the_id_arm_and_windows(client, coordinator, make_screening, shanghai):
    record = make_screening("defier", shanghai)
    response = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"})
    assert response.status_code == 302 and response.location == "/subjects/DEF-SH01-0001"
    (subject,) = subjects()
    assert (subject.arm.code, subject.index_date, subject.consent_date) == ("des", date(2027, 3, 2), date(2027, 3, 1))
    assert [(v.definition.code, v.window_start, v.window_end) for v in subject.visits][1] == ("m1", date(2027, 3, 25), date(2027, 4, 8))
    db.session.refresh(record)
    assert record.outcome is ScreeningOutcome.ENROLLED and record.subject_id == subject.id


def test_enrolling_an_ineligible_patient_is_refused_with_the_failed_criteria(client, coordinator, make_screening, shanghai):
    record = make_screening("defier", shanghai, numbers={"age_years": Decimal(17), "rutherford": Decimal(6)})
    page = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"}).get_data(
        as_text=True
    )
    assert "Not eligible; these criteria are not met:" in page
    assert "(1) Age &gt; 18 years." in page and "(3) Rutherford Clinical Category 2-5." in page and "(2) Rutherford Category 0 or 6." in page
    assert subjects() == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"consent_date": "2027-03-11", "index_date": "2027-03-02", "arm": "dcb"}, "Informed consent date: must not be after the enrolment date (2027-03-10)."),
        (
            {"consent_date": "2027-03-05", "index_date": "2027-03-02", "arm": "dcb"},
            "Informed consent date: must be on or before the procedure date (2027-03-02).",
        ),
        ({"consent_date": "", "index_date": "2027-03-02", "arm": "dcb"}, "Informed consent date: required; enter it as YYYY-MM-DD."),
        ({"consent_date": "03/01/2027", "index_date": "2027-03-02", "arm": "dcb"}, "Informed consent date: not a valid date; enter it as YYYY-MM-DD."),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-11", "arm": "dcb"}, "Procedure date: must not be after today at the site (2027-03-10)."),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02"}, "Cohort: required; choose one of DCB, DES."),
        ({"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "bms"}, "Cohort: required; choose one of DCB, DES."),
    ],
)
def test_bad_enrolment_input_is_refused_naming_the_field_and_keeping_the_input(client, coordinator, make_screening, shanghai, data, message):
    record = make_screening("defier", shanghai)
    page = post_form(client, f"/screening/{record.screening_number}/enrol", data).get_data(as_text=True)
    assert message in page
    if data["consent_date"]:
        assert f'value="{data["consent_date"]}"' in page
    assert subjects() == []


def test_registry_subjects_get_the_single_arm(client, coordinator, make_screening, shanghai):
    record = make_screening("leg-deb", shanghai)
    post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-01"})
    assert subjects()[0].arm.code == "legflow"


def test_randomizing_angel_icas_sets_day_0_to_the_randomization_instant(client, coordinator, make_screening, shanghai, cli):
    cli.invoke(args=["ecrf", "randomization", "generate", "angel-icas", "--seed", "7", "--per-stratum", "10"])
    record = make_screening("angel-icas", shanghai)
    response = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-10"})
    assert response.status_code == 302
    (subject,) = subjects()
    assert subject.arm is not None and subject.randomized_at == NOW
    assert (subject.index_date, subject.index_at) == (date(2027, 3, 10), NOW)
    h48 = subject.visits[1]
    assert (h48.definition.code, h48.window_start, h48.window_end) == ("h48", date(2027, 3, 11), date(2027, 3, 13))
    assert "randomized 2027-03-10 12:00" in client.get(response.location).get_data(as_text=True)


def test_precise_cal_refuses_randomization_below_the_qfr_condition_and_says_why(client, coordinator, make_screening, shanghai, cli):
    cli.invoke(args=["ecrf", "randomization", "generate", "precise-cal", "--seed", "7", "--per-stratum", "10"])
    low = make_screening("precise-cal", shanghai, numbers={"qfr_post_modification": Decimal("0.78")})
    page = post_form(client, f"/screening/{low.screening_number}/enrol", {"consent_date": "2027-03-10", "index_date": "2027-03-10"}).get_data(as_text=True)
    assert "Not eligible" in page and "QFR &gt; 0.8 after calcification modification" in page
    ok = make_screening("precise-cal", shanghai, numbers={"qfr_post_modification": Decimal("0.86")})
    response = post_form(client, f"/screening/{ok.screening_number}/enrol", {"consent_date": "2027-03-10", "index_date": "2027-03-10"})
    assert response.status_code == 302 and subjects()[0].arm.code in {"dcb", "des"}


def test_a_patient_who_declined_consent_cannot_be_enrolled(client, coordinator, make_screening, shanghai):
    from tests.conftest import csrf_token

    record = make_screening("defier", shanghai)
    token = csrf_token(client, f"/screening/{record.screening_number}")
    client.post(f"/screening/{record.screening_number}/decline", data={"csrf_token": token})
    db.session.refresh(record)
    assert record.outcome is ScreeningOutcome.DECLINED_CONSENT
    page = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-01", "index_date": "2027-03-02", "arm": "des"}).get_data(
        as_text=True
    )
    assert "declined consent and cannot be enrolled" in page and subjects() == []


# -- rules that apply only when another answer holds; exact values; judged again at enrolment -------------


def _without(numbers: dict, *codes: str) -> dict:
    return {k: v for k, v in numbers.items() if k not in codes}


def test_defiance_egfr_exclusion_applies_only_to_patients_not_on_dialysis():
    protocol = protocols()["defiance"]
    numbers, answers = eligible_example(protocol)
    assert numbers["on_dialysis"] == 0  # the example patient is not on dialysis, and needs an eGFR
    on_dialysis = judge(protocol, {**_without(numbers, "gfr_ml_min"), "on_dialysis": Decimal(1)}, answers)
    assert on_dialysis.eligible, on_dialysis
    assert judge(protocol, {**numbers, "gfr_ml_min": Decimal(12), "on_dialysis": Decimal(1)}, answers).eligible
    assert judge(protocol, _without(numbers, "gfr_ml_min"), answers).unanswered == ["renal_impairment"]
    assert judge(protocol, {**numbers, "gfr_ml_min": Decimal(29)}, answers).failed == ["renal_impairment"]
    # A normal eGFR settles it whatever the dialysis answer; a low one needs the answer.
    assert judge(protocol, _without(numbers, "on_dialysis"), answers).eligible
    assert judge(protocol, {**_without(numbers, "on_dialysis"), "gfr_ml_min": Decimal(29)}, answers).unanswered == ["renal_impairment"]


def test_the_screening_form_asks_about_dialysis_and_a_patient_on_dialysis_without_an_egfr_is_eligible(client, coordinator):
    form = _eligible_form("defiance", on_dialysis="True")
    del form["gfr_ml_min"]
    page = client.get("/studies/defiance/sites/SH01/screening/new").get_data(as_text=True)
    assert 'name="on_dialysis"' in page
    location = _screen(client, "defiance", form)
    assert 'id="outcome">eligible' in client.get(location).get_data(as_text=True)
    record = db.session.scalar(select(ScreeningRecord))
    assert record.outcome is ScreeningOutcome.ELIGIBLE and record.values["on_dialysis"] == "1" and "gfr_ml_min" not in record.values
    assert _screen(client, "defiance", {**form, "on_dialysis": "False"})
    assert db.session.scalars(select(ScreeningRecord.outcome).order_by(ScreeningRecord.id)).all()[-1] is ScreeningOutcome.IN_PROGRESS


def test_hours_since_last_known_well_are_judged_exactly_not_rounded():
    protocol = protocols()["angel-icas"]
    numbers, answers = eligible_example(protocol)
    values = {"hours_since_last_known_well": (NOW - timedelta(hours=24, minutes=2)).isoformat()}
    hours = derive(values, counted_to=NOW.date(), at=NOW)["hours_since_last_known_well"]
    assert hours > 24 and round(hours, 1) == Decimal("24.0")
    assert "within_24h" in judge(protocol, {**numbers, "hours_since_last_known_well": hours}, answers).failed


def test_a_screening_24_hours_and_2_minutes_after_last_known_well_fails_and_shows_the_hours_rounded(client, coordinator):
    form = _eligible_form("angel-icas", hours_since_last_known_well__at="2027-03-09T11:58")  # now is 12:00 in Shanghai
    location = _screen(client, "angel-icas", form)
    page = client.get(location).get_data(as_text=True)
    assert 'id="outcome">screen failure' in page
    assert "24.0 h" in page and "24.03" not in page


def test_symptom_onset_is_counted_to_the_enrolment_date_and_judged_again_then(client, coordinator, make_screening, shanghai, cli, clock, login):
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "7", "--per-stratum", "10"])
    record = make_screening("defiance", shanghai, numbers={"symptom_onset_days": Decimal(84)})
    assert record.outcome is ScreeningOutcome.ELIGIBLE and record.values["symptom_onset_days"] == "2026-12-16"
    from ecrf.auth.models import User

    user = db.session.scalar(select(User).where(User.email == "coord@example.org"))
    with clock(NOW + timedelta(days=2)):
        login(user)  # the session of two days ago has expired
        response = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-12"})
        page = response.get_data(as_text=True)
    assert response.status_code == 200 and subjects() == []
    assert "Not eligible; these criteria are not met:" in page
    assert "Symptom onset within 12 weeks of enrollment in the study" in page
    assert "86 days before the enrolment date 2027-03-12" in page
    with clock(NOW + timedelta(days=2)):  # saved again with that day as its screening date, the record is a screen failure
        from ecrf.screening.services import save_screening

        save_screening(
            record.study,
            record.site,
            screening_date=date(2027, 3, 12),
            values=record.values,
            answers=record.answers,
            strata=record.strata,
            by=None,
            record=record,
        )
        assert record.outcome is ScreeningOutcome.SCREEN_FAILURE
        db.session.rollback()
    login(user)
    response = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-10"})
    assert response.status_code == 302 and len(subjects()) == 1


def test_defier_stent_location_of_inclusion_4_is_asked_at_screening(client, coordinator):
    protocol = protocols()["defier"]
    numbers, answers = eligible_example(protocol)
    for field, criterion in (("stent_below_profunda_mm", "stent_location_proximal"), ("stent_above_notch_mm", "stent_location_distal")):
        assert judge(protocol, {**numbers, field: Decimal(10)}, answers).eligible
        assert judge(protocol, {**numbers, field: Decimal(9)}, answers).failed == [criterion]
        assert judge(protocol, _without(numbers, field), answers).unanswered == [criterion]
    page = client.get("/studies/defier/sites/SH01/screening/new").get_data(as_text=True)
    assert 'name="stent_below_profunda_mm"' in page and 'name="stent_above_notch_mm"' in page


def test_a_screening_answer_is_a_radio_choice_that_can_be_cleared(client, coordinator):
    page = client.get("/studies/defiance/sites/SH01/screening/new").get_data(as_text=True)
    assert 'type="radio" name="on_dialysis" id="on_dialysis-clear" value=""' in page  # one radio group, its last choice "clear"
    assert '<ul class="form-control' not in page  # answers are radio buttons, not a list in a text box
    form = _eligible_form("defiance", on_dialysis="True")
    del form["gfr_ml_min"]
    location = _screen(client, "defiance", form)
    record = db.session.scalar(select(ScreeningRecord))
    assert record.values["on_dialysis"] == "1"
    response = post_form(client, location, {**form, "on_dialysis": ""})  # "clear" posts no answer
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(record)
    assert "on_dialysis" not in record.values and record.outcome is ScreeningOutcome.IN_PROGRESS
