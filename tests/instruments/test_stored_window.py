"""Form warnings about a visit's window use the visit's stored window, not the protocol's."""

from __future__ import annotations

from datetime import date

from ecrf.crfs.services import form_context
from forms.duplex import DuplexForm

DUPLEX = {"side": "left", "segment": "sfa_mid", "occluded": "False", "psv_lesion": "180", "psv_proximal": "90.5"}


def test_the_window_warning_follows_the_stored_visit_window_even_when_the_protocol_says_otherwise(make_site, make_subject, posted):
    subject = make_subject("defier", make_site("SH01", ["defier"]), date(2026, 1, 1))
    visit = next(v for v in subject.visits if v.definition.code == "m1")
    assert (visit.window_start, visit.window_end) == (date(2026, 1, 24), date(2026, 2, 7))  # the protocol's: days 23 to 37
    visit.window_start, visit.window_end = date(2026, 2, 1), date(2026, 2, 14)  # as an earlier protocol version scheduled it
    context = form_context(subject, visit)
    assert (context.window_start, context.window_end) == (date(2026, 2, 1), date(2026, 2, 14))

    form, valid = posted(DuplexForm, {**DUPLEX, "exam_date": "2026-02-10"}, context)  # outside the protocol's window
    assert valid, form.errors
    form, valid = posted(DuplexForm, {**DUPLEX, "exam_date": "2026-01-25"}, context)  # inside the protocol's window
    assert not valid
    assert [w.message for w in form.pending_warnings] == ["Duplex date: 2026-01-25 is outside the 1 month window (2026-02-01 to 2026-02-14): confirm the date."]
