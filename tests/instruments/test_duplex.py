"""Duplex form rules at form level, and the PSV ratio and patency judgement from a data row."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ecrf.instruments.duplex import DuplexData, compute, results
from forms.base import FormContext
from forms.duplex import DuplexForm

#: A valid complete entry, as posted by a browser (first listed at DEFIER m1: day 30 = 2026-01-31).
EXAMPLES = {
    "duplex": {"exam_date": "2026-01-31", "side": "left", "segment": "sfa_mid", "occluded": "False", "psv_lesion": "180", "psv_proximal": "90.5"},
}
OCCLUDED = {**EXAMPLES["duplex"], "occluded": "True", "psv_lesion": "", "psv_proximal": ""}


def _with_threshold(context: FormContext, threshold: Decimal | None) -> FormContext:
    """The context with its protocol's PSVR threshold changed (as a protocol amendment would)."""
    endpoints = context.protocol.endpoints.model_copy(update={"psvr_restenosis": threshold})
    return replace(context, protocol=context.protocol.model_copy(update={"endpoints": endpoints}))


def test_the_example_is_valid(posted, context):
    form, valid = posted(DuplexForm, EXAMPLES["duplex"], context("defier", "m1"))
    assert valid, form.errors


def test_an_occluded_segment_needs_no_velocities(posted, context):
    form, valid = posted(DuplexForm, OCCLUDED, context("defier", "m1"))
    assert valid, form.errors


def test_velocities_must_not_be_entered_for_an_occluded_segment(posted, context):
    form, valid = posted(DuplexForm, {**OCCLUDED, "psv_lesion": "180"}, context("defier", "m1"))
    assert not valid
    assert form.psv_lesion.errors == ["Intrastenotic peak systolic velocity (cm/s): leave empty when the segment is occluded."]


def test_both_velocities_are_required_for_an_open_segment(posted, context):
    form, valid = posted(DuplexForm, {**EXAMPLES["duplex"], "psv_proximal": ""}, context("defier", "m1"))
    assert not valid
    assert form.psv_proximal.errors == ["Prestenotic (proximal) peak systolic velocity (cm/s): required unless the segment is occluded."]


def test_a_draft_may_leave_the_velocities_empty(posted, context):
    form, valid = posted(DuplexForm, {**EXAMPLES["duplex"], "psv_lesion": "", "psv_proximal": ""}, context("defier", "m1"), complete=False)
    assert valid, form.errors


def test_a_velocity_outside_1_to_1000_is_refused(posted, context):
    form, valid = posted(DuplexForm, {**EXAMPLES["duplex"], "psv_lesion": "0"}, context("defier", "m1"))
    assert not valid
    assert form.psv_lesion.errors == ["Intrastenotic peak systolic velocity (cm/s): enter a number from 1 to 1000 cm/s (up to 1 decimals)."]


def test_the_exam_date_must_lie_in_the_study(posted, context):
    form, valid = posted(DuplexForm, {**EXAMPLES["duplex"], "exam_date": "2025-12-31"}, context("defier", "m1"))
    assert not valid
    assert form.exam_date.errors == ["Duplex date: must not be before day 0 (2026-01-01)."]


def test_an_exam_outside_the_visit_window_must_be_confirmed(posted, context):
    values = {**EXAMPLES["duplex"], "exam_date": "2026-02-10"}  # m1 window: days 23-37 = 2026-01-24 to 2026-02-07
    form, valid = posted(DuplexForm, values, context("defier", "m1"))
    assert not valid
    assert [w.message for w in form.pending_warnings] == ["Duplex date: 2026-02-10 is outside the 1 month window (2026-01-24 to 2026-02-07): confirm the date."]
    form, valid = posted(DuplexForm, {**values, "confirm": "exam_date_outside_window"}, context("defier", "m1"))
    assert valid, form.errors


def test_a_psv_ratio_above_10_must_be_confirmed(posted, context):
    form, valid = posted(DuplexForm, {**EXAMPLES["duplex"], "psv_lesion": "500", "psv_proximal": "40"}, context("defier", "m1"))
    assert not valid
    assert [w.code for w in form.pending_warnings] == ["psvr_high"]
    assert form.pending_warnings[0].message == "PSV ratio 12.50 is above 10: confirm both peak systolic velocities."


def test_compute_judges_restenosis_at_the_protocol_threshold(context):
    data = DuplexData(occluded=False, psv_lesion=Decimal("240"), psv_proximal=Decimal("100"))
    compute(data, context("defier", "m1"))
    assert (data.psvr, data.restenosis, data.patent, data.psvr_threshold) == (Decimal("2.40"), True, False, Decimal("2.4"))
    assert results(data)[1] == ("Judgement", "restenosis (PSV ratio 2.40 is at or above 2.4)")
    below = DuplexData(occluded=False, psv_lesion=Decimal("239"), psv_proximal=Decimal("100"))
    compute(below, context("defier", "m1"))
    assert (below.psvr, below.restenosis, below.patent) == (Decimal("2.39"), False, True)


def test_an_occlusion_is_restenosis_without_a_ratio(context):
    data = DuplexData(occluded=True)
    compute(data, context("leg-deb", "m6"))
    assert (data.psvr, data.restenosis, data.patent) == (None, True, False)


def test_the_threshold_first_used_is_kept_when_the_protocol_changes(context):
    data = DuplexData(occluded=False, psv_lesion=Decimal("250"), psv_proximal=Decimal("100"), psvr_threshold=Decimal("2.4"))
    compute(data, _with_threshold(context("defier", "m1"), Decimal("2.85")))
    assert (data.psvr_threshold, data.restenosis) == (Decimal("2.4"), True)


def test_without_a_protocol_threshold_the_ratio_is_not_judged(context):
    data = DuplexData(occluded=False, psv_lesion=Decimal("250"), psv_proximal=Decimal("100"))
    compute(data, _with_threshold(context("defier", "m1"), None))
    assert (data.psvr, data.restenosis, data.patent, data.psvr_threshold) == (Decimal("2.50"), None, None, None)
    assert results(data) == [("PSV ratio", "2.50"), ("Judgement", "not judged: the protocol sets no PSV ratio threshold for restenosis")]
