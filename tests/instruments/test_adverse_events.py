"""Adverse events: partial dates, seriousness, outcome and reporting rules; the SAE report deadline."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ecrf.crfs.models import CrfEntry
from ecrf.instruments.adverse_events import AdverseEventData, compute, describe, results
from forms.adverse_events import AdverseEventForm

#: A valid complete entry, as posted by a browser (used by the generic instrument tests).
EXAMPLES = {
    "adverse_events": {
        "ae_term": "Groin haematoma",
        "onset_date": "2026-01",
        "ongoing": "True",
        "serious": "True",
        "sae_hospitalisation": "y",
        "severity": "moderate",
        "relation_device": "not_related",
        "relation_procedure": "probable",
        "relation_drug": "not_related",
        "outcome": "recovering",
        "action_taken": "hospitalisation",
        "aware_at": "2026-01-01T14:30",
        "reported_at": "2026-01-01T20:00",
    },
}
EXAMPLE = EXAMPLES["adverse_events"]
#: The example as a non-serious event that has ended.
NON_SERIOUS = {
    **EXAMPLE,
    "serious": "False",
    "sae_hospitalisation": "",
    "action_taken": "medication",
    "reported_at": "",
    "ongoing": "False",
    "end_date": "2026-01-20",
    "outcome": "recovered",
}


def _post(posted, context, complete=True, **changes):
    return posted(AdverseEventForm, {**EXAMPLE, **changes}, context(), complete=complete)


def _warnings(form) -> list[str]:
    return [warning.code for warning in form.pending_warnings]


def test_the_example_is_valid(posted, context):
    form, valid = posted(AdverseEventForm, EXAMPLE, context("defier", "baseline"))
    assert valid, form.errors
    assert form.pending_warnings == []


def test_the_non_serious_variant_is_valid(posted, context):
    form, valid = posted(AdverseEventForm, NON_SERIOUS, context())
    assert valid, form.errors


# -- partial dates -------------------------------------------------------------------------------


def test_a_partial_date_is_normalised(posted, context):
    form, valid = _post(posted, context, onset_date="2026-01-UN")
    assert valid, form.errors
    assert form.onset_date.data == "2026-01"


def test_a_wrong_partial_date_names_the_field_and_the_formats(posted, context):
    form, valid = _post(posted, context, onset_date="2026-13")
    assert not valid
    assert form.onset_date.errors == ["Onset date: month 13 does not exist; enter YYYY-MM-DD, YYYY-MM or YYYY (leave out the parts that are unknown)."]


def test_a_wrong_partial_date_is_refused_in_a_draft_too(posted, context):
    form, valid = _post(posted, context, complete=False, end_date="2025-02-29", ongoing="False")
    assert not valid
    assert form.end_date.errors == [
        "End date: February 2025 has 28 days, so there is no day 29; enter YYYY-MM-DD, YYYY-MM or YYYY (leave out the parts that are unknown)."
    ]


def test_onset_is_required(posted, context):
    form, valid = _post(posted, context, onset_date="")
    assert form.onset_date.errors == ["Onset date: required; enter a date as YYYY-MM-DD, YYYY-MM or YYYY (leave out the parts that are unknown)."]


def test_onset_after_today_is_refused(posted, context):
    form, valid = _post(posted, context, onset_date="2027-07")
    assert not valid
    assert form.onset_date.errors == ["Onset date: must not be after today at the site (2027-06-01)."]


def test_onset_possibly_today_is_accepted(posted, context):
    form, valid = _post(posted, context, onset_date="2027", aware_at="2027-05-01T10:00", reported_at="2027-05-01T11:00")
    assert valid, form.errors


def test_an_event_between_consent_and_day_0_is_entered_with_its_true_dates(posted, context):
    ctx = context(consent_date=date(2025, 12, 28))  # day 0 is 2026-01-01
    values = {**EXAMPLE, "onset_date": "2025-12-29", "aware_at": "2025-12-29T09:00", "reported_at": "2025-12-29T15:00"}
    form, valid = posted(AdverseEventForm, values, ctx)
    assert valid, (form.errors, _warnings(form))
    assert form.entry_input(complete=True).values["aware_at"] == datetime(2025, 12, 29, 1, 0, tzinfo=UTC)


def test_an_onset_before_consent_is_refused_as_medical_history(posted, context):
    form, valid = _post(posted, lambda: context(consent_date=date(2025, 12, 28)), onset_date="2025-12-27")
    assert not valid
    assert form.onset_date.errors == [
        "Onset date: 2025-12-27 is before the informed consent date (2025-12-28); a condition present before consent "
        "is medical history (if it worsened after consent, enter the date it worsened)."
    ]
    form, valid = _post(posted, lambda: context(consent_date=date(2025, 12, 28)), onset_date="2025-12")  # possibly after consent
    assert valid, form.errors


def test_awareness_before_consent_is_refused(posted, context):
    form, valid = _post(posted, lambda: context(consent_date=date(2025, 12, 28)), aware_at="2025-12-27T23:00")
    assert not valid
    assert form.aware_at.errors == ["Date and time the site became aware: must not be before the informed consent date (2025-12-28)."]


# -- ongoing and end date ----------------------------------------------------------------------------


def test_end_date_is_required_when_not_ongoing(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "end_date": ""}, context())
    assert not valid
    assert form.end_date.errors == ["End date: required when the event is not ongoing."]


def test_end_date_is_refused_while_ongoing(posted, context):
    form, valid = _post(posted, context, end_date="2026-02")
    assert not valid
    assert form.end_date.errors == ["End date: leave empty while the event is ongoing."]


def test_end_definitely_before_onset_is_refused(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "onset_date": "2026-03-10", "end_date": "2026-02", "aware_at": "2026-03-10T10:00"}, context())
    assert not valid
    assert form.end_date.errors == ["End date: 2026-02 is before the Onset date (2026-03-10); an event cannot end before its onset."]


def test_end_possibly_after_onset_is_accepted(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "onset_date": "2026-03-10", "end_date": "2026-03", "aware_at": "2026-03-10T10:00"}, context())
    assert valid, form.errors


# -- seriousness -------------------------------------------------------------------------------------


def test_serious_needs_a_criterion_on_completing(posted, context):
    form, valid = _post(posted, context, sae_hospitalisation="", action_taken="medication")
    assert not valid
    assert form.serious.errors == ["Serious: tick at least one seriousness criterion."]


def test_a_draft_may_be_serious_without_criteria_nor_report_time(posted, context):
    form, valid = _post(posted, context, complete=False, sae_hospitalisation="", action_taken="medication", reported_at="")
    assert valid, form.errors


@pytest.mark.parametrize(
    ("serious", "answer"),
    [
        ({"serious": "False"}, "Serious is No"),
        ({"serious": "", "serious__missing": "unknown", "serious__reason": "awaiting the discharge letter"}, "Serious is coded unknown"),
    ],
)
@pytest.mark.parametrize("complete", [True, False])
def test_a_ticked_criterion_makes_the_event_serious_or_is_refused(posted, context, serious, answer, complete):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, **serious, "sae_life_threatening": "y"}, context(), complete=complete)
    assert not valid
    assert form.sae_life_threatening.errors == [
        f"Life-threatening: a ticked seriousness criterion makes the event serious, but {answer}; answer Serious Yes, or untick the criterion."
    ]


def test_a_draft_with_a_ticked_criterion_and_serious_unanswered_is_refused(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "serious": "", "sae_life_threatening": "y"}, context(), complete=False)
    assert not valid
    assert form.sae_life_threatening.errors == [
        "Life-threatening: a ticked seriousness criterion makes the event serious, but Serious is not answered; answer Serious Yes, or untick the criterion."
    ]


def test_seriousness_may_be_coded_unknown_but_not_not_done(posted, context):
    unknown = {**NON_SERIOUS, "serious": "", "serious__missing": "unknown", "serious__reason": "awaiting the discharge letter"}
    form, valid = posted(AdverseEventForm, unknown, context())
    assert valid, form.errors
    form, valid = posted(AdverseEventForm, {**unknown, "serious__missing": "not_done"}, context())
    assert not valid
    assert form.serious.errors == ["Serious: the missing-data code not done is not allowed; only unknown."]


def test_a_late_report_of_an_event_of_unknown_seriousness_needs_confirming(posted, context):
    values = {
        **NON_SERIOUS,
        "serious": "",
        "serious__missing": "unknown",
        "serious__reason": "awaiting the discharge letter",
        "aware_at": "2026-01-01T08:00",
        "reported_at": "2026-01-02T09:00",
    }
    form, valid = posted(AdverseEventForm, values, context())
    assert not valid
    assert _warnings(form) == ["sae_reported_late"]


def test_a_serious_event_needs_the_report_time_on_completing(posted, context):
    form, valid = _post(posted, context, reported_at="")
    assert not valid
    assert form.reported_at.errors == ["Date and time reported to the sponsor: required for a serious event (a draft can be saved without it)."]


# -- outcome -------------------------------------------------------------------------------------------


def test_fatal_needs_the_death_criterion(posted, context):
    form, valid = _post(posted, context, outcome="fatal", ongoing="False", end_date="2026-01-05")
    assert not valid
    assert form.outcome.errors == ["Outcome: Fatal needs the seriousness criterion Resulted in death ticked."]


def test_fatal_is_refused_for_a_non_serious_event(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "outcome": "fatal"}, context())
    assert not valid
    assert form.outcome.errors == ["Outcome: Fatal makes the event serious; answer Serious Yes and tick Resulted in death."]


def test_death_criterion_needs_a_fatal_outcome(posted, context):
    form, valid = _post(posted, context, sae_death="y")
    assert not valid
    assert form.sae_death.errors == ["Resulted in death: the outcome must then be Fatal, not Recovering/resolving."]


def test_a_fatal_event_with_the_death_criterion_is_valid(posted, context):
    form, valid = _post(posted, context, sae_death="y", outcome="fatal", ongoing="False", end_date="2026-01-05")
    assert valid, form.errors


def test_an_ongoing_event_cannot_have_an_ended_outcome(posted, context):
    for outcome, text in [("recovered", "Recovered/resolved"), ("recovered_with_sequelae", "Recovered/resolved with sequelae")]:
        form, valid = _post(posted, context, outcome=outcome)
        assert not valid
        assert form.outcome.errors == [f"Outcome: {text} means the event has ended; answer Ongoing No and give the end date, or choose another outcome."]


def test_an_ended_event_not_recovered_needs_confirming(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "outcome": "not_recovered"}, context())
    assert not valid
    assert _warnings(form) == ["ended_not_recovered"]


# -- action taken ------------------------------------------------------------------------------------


def test_other_action_needs_a_description(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "action_taken": "other"}, context())
    assert not valid
    assert form.action_other.errors == ["Other action taken: required when the action taken is Other."]
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "action_taken": "other", "action_other": "Compression bandage"}, context())
    assert valid, form.errors


def test_hospitalisation_of_a_non_serious_event_needs_confirming(posted, context):
    form, valid = posted(AdverseEventForm, {**NON_SERIOUS, "action_taken": "hospitalisation"}, context())
    assert not valid
    assert _warnings(form) == ["hospitalisation_not_serious"]


# -- awareness and report -----------------------------------------------------------------------------


def test_awareness_before_day_0_is_refused(posted, context):
    form, valid = _post(posted, context, aware_at="2025-12-31T23:00")
    assert form.aware_at.errors == ["Date and time the site became aware: must not be before day 0 (2026-01-01)."]


def test_awareness_before_the_onset_is_refused(posted, context):
    form, valid = _post(posted, context, onset_date="2026-03", aware_at="2026-02-27T10:00", reported_at="2026-02-27T11:00")
    assert not valid
    assert form.aware_at.errors == ["Date and time the site became aware: 2026-02-27 is before the Onset date (2026-03)."]


def test_report_before_awareness_is_refused(posted, context):
    form, valid = _post(posted, context, reported_at="2026-01-01T14:00")
    assert not valid
    assert form.reported_at.errors == ["Date and time reported to the sponsor: must not be before the site became aware (2026-01-01 14:30)."]


def test_awareness_later_today_is_refused_as_future(posted, context):
    now = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, on the context's today
    form, valid = posted(AdverseEventForm, {**EXAMPLE, "aware_at": "2027-06-01T11:00", "reported_at": ""}, context(now=now))
    assert not valid
    assert form.aware_at.errors == ["Date and time the site became aware: must not be in the future (it is 10:00 now at the site)."]


def test_a_late_report_needs_confirming(posted, context):
    form, valid = _post(posted, context, aware_at="2026-01-01T08:00", reported_at="2026-01-02T09:00")
    assert not valid
    assert _warnings(form) == ["sae_reported_late"]
    assert form.pending_warnings[0].message == (
        "Reported to the sponsor 25.0 hours after the site became aware, later than the 24 hours the protocol allows: confirm both times."
    )


def test_report_lateness_counts_real_hours_across_a_clock_change(posted, context):
    # New York moves to summer time on 2026-03-08: 24.5 hours on the wall clock are 23.5 real hours.
    ctx = context("defiance", "d90", timezone="America/New_York")
    form, valid = posted(AdverseEventForm, {**EXAMPLE, "onset_date": "2026-03", "aware_at": "2026-03-07T12:00", "reported_at": "2026-03-08T12:30"}, ctx)
    assert valid, form.errors


# -- computed values and lines for lists ------------------------------------------------------------------


def _utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_compute_sets_the_deadline_and_lateness_of_a_serious_event(context):
    data = AdverseEventData(serious=True, aware_at=_utc(2026, 1, 1, 6, 30), reported_at=_utc(2026, 1, 2, 7, 0))
    compute(data, context())
    assert (data.sae_report_due_at, data.reported_late) == (_utc(2026, 1, 2, 6, 30), True)


def test_compute_on_time_and_not_yet_reported(context):
    on_time = AdverseEventData(serious=True, aware_at=_utc(2026, 1, 1, 6, 30), reported_at=_utc(2026, 1, 2, 6, 30))
    waiting = AdverseEventData(serious=True, aware_at=_utc(2026, 1, 1, 6, 30), reported_at=None)
    for data in (on_time, waiting):
        compute(data, context())
    assert (on_time.reported_late, waiting.sae_report_due_at, waiting.reported_late) == (False, _utc(2026, 1, 2, 6, 30), None)


def test_seriousness_coded_unknown_starts_the_sae_report_clock(context):
    entry = CrfEntry(missing={"serious": {"code": "unknown", "reason": "awaiting the discharge letter"}})
    data = AdverseEventData(entry=entry, serious=None, aware_at=_utc(2026, 1, 1, 6, 30))
    compute(data, context())
    assert data.sae_report_due_at == _utc(2026, 1, 2, 6, 30)
    assert results(data)[0] == ("Seriousness", "unknown: the SAE report clock runs as a precaution until Serious is answered")
    assert describe(data).endswith("seriousness unknown, onset not entered")


def test_compute_leaves_a_non_serious_event_without_deadline(context):
    data = AdverseEventData(serious=False, aware_at=_utc(2026, 1, 1, 6, 30), reported_at=_utc(2026, 1, 9))
    compute(data, context())
    assert (data.sae_report_due_at, data.reported_late) == (None, None)


def test_describe_and_results():
    data = AdverseEventData(
        ae_term="Groin haematoma",
        serious=True,
        onset_date="2026-01",
        ongoing=True,
        sae_hospitalisation=True,
        sae_death=False,
        sae_report_due_at=_utc(2026, 1, 2, 6, 30),
        reported_late=False,
        reported_at=_utc(2026, 1, 1, 12),
    )
    assert describe(data) == "Groin haematoma — serious, onset 2026-01, ongoing"
    assert results(data) == [
        ("Seriousness", "serious: in-patient hospitalisation or prolongation of hospitalisation"),
        ("SAE report to the sponsor due", "2026-01-02 06:30 UTC"),
        ("SAE report", "on time"),
    ]
    assert describe(AdverseEventData(ae_term="Headache", serious=False, onset_date="2026-02-03")) == "Headache — non-serious, onset 2026-02-03"
