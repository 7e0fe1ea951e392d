"""What follows a write (flag refresh, protocol deviations, the end of follow-up) runs from one hook: the
receivers of `ecrf.signals`, in `ecrf.effects`; exactly once per write, inside the write's transaction."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import ecrf.effects
from ecrf.crfs.input import EntryInput
from ecrf.crfs.models import CrfEntry
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import save_entry
from ecrf.deviations.models import ProtocolDeviation
from ecrf.extensions import db
from ecrf.safety.models import Flag, FlagStatus
from ecrf.signals import entry_saved, subject_changed, visit_changed
from ecrf.subjects.models import SubjectStatus
from ecrf.subjects.services import end_participation
from ecrf.visits.services import mark_missed, record_visit_date

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
ECRF = Path(__file__).resolve().parent.parent / "ecrf"
#: The side effects of a write, and the one module that runs them after writes (the nightly pass runs
#: `refresh_site_flags`, its own job, not a write's follow-up).
SIDE_EFFECTS = {"refresh_flags", "record_deviation"}
HOOK = ECRF / "effects.py"


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier", "leg-deb"])


@pytest.fixture
def effects(monkeypatch):
    """Counts of each side effect run (the real ones run: this only counts them)."""
    counts = {"refresh_flags": 0}
    real = ecrf.effects.refresh_flags

    def counting(subjects, **kwargs):
        counts["refresh_flags"] += 1
        return real(subjects, **kwargs)

    monkeypatch.setattr(ecrf.effects, "refresh_flags", counting)
    return counts


def _deviations() -> list[ProtocolDeviation]:
    return db.session.scalars(select(ProtocolDeviation).order_by(ProtocolDeviation.id)).all()


def _flag_count() -> int:
    return db.session.scalar(select(func.count(Flag.id)))


def _source_files() -> list[Path]:
    return sorted(ECRF.rglob("*.py"))


def test_no_module_but_the_receivers_runs_a_side_effect_of_a_write():
    offenders = []
    for path in _source_files():
        if path == HOOK:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            called = node.func if isinstance(node, ast.Call) else None
            name = called.id if isinstance(called, ast.Name) else called.attr if isinstance(called, ast.Attribute) else None
            if name in SIDE_EFFECTS:
                offenders.append(f"{path.relative_to(ECRF.parent)}:{node.lineno} calls {name}")
            # Completing a subject's follow-up is the receiver's too.
            if isinstance(node, ast.Attribute) and node.attr == "COMPLETED" and isinstance(node.value, ast.Name) and node.value.id == "SubjectStatus":
                offenders.append(f"{path.relative_to(ECRF.parent)}:{node.lineno} completes a follow-up")
    assert offenders == []


def test_each_signal_has_one_receiver_connected_when_the_app_is_built(app):
    # blinker calls a signal's receivers in no set order: one receiver per signal runs its steps in order.
    assert [list(signal.receivers.values()) for signal in (entry_saved, visit_changed, subject_changed)] == [
        [ecrf.effects.after_entry_saved],
        [ecrf.effects.after_visit_changed],
        [ecrf.effects.after_subject_changed],
    ]


def test_a_saved_entry_refreshes_the_subjects_flags_once_from_the_hook_and_not_without_it(make_subject, site, effects):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")  # its 1- and 3-month visits are overdue on NOW
    baseline = subject.visits[0]
    with entry_saved.muted():
        save_entry(baseline, instrument("rutherford"), EntryInput(values={"limb": "left", "category": 3}), entry=None)
    assert (effects["refresh_flags"], _flag_count()) == (0, 0)  # the service itself refreshes nothing
    entry = _entry(baseline)
    save_entry(baseline, instrument("rutherford"), EntryInput(values={"limb": "left", "category": 4}, version_seen=entry.version), entry=entry)
    assert effects["refresh_flags"] == 1
    assert {flag.kind for flag in db.session.scalars(select(Flag))} == {"visit_overdue"}


def _entry(visit) -> CrfEntry:
    return db.session.scalar(select(CrfEntry).where(CrfEntry.visit_id == visit.id))


def test_the_side_effects_run_in_the_writes_own_transaction(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[1], date(2027, 2, 10), deviation_reason="Patient travelling")  # after its window
    assert (len(_deviations()), _flag_count()) == (1, 1)  # seen before any commit: the 3-month visit is overdue
    db.session.rollback()
    assert (len(_deviations()), _flag_count()) == (0, 0)  # and gone with the write
    assert subject.visits[1].visit_date is None


def test_a_visit_dated_out_of_window_records_one_deviation_and_refreshes_flags_once(make_subject, site, effects):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[1], date(2027, 2, 10), deviation_reason="Patient travelling")
    (deviation,) = _deviations()
    assert (deviation.kind, deviation.reason, deviation.description) == (
        "visit_out_of_window",
        "Patient travelling",
        f"1 month on 2027-02-10, window {subject.visits[1].window_text}",
    )
    assert effects["refresh_flags"] == 1
    record_visit_date(subject.visits[1], date(2027, 2, 10), deviation_reason="Patient travelling")  # the same date again
    assert (len(_deviations()), effects["refresh_flags"]) == (1, 1)  # nothing changed, nothing follows


def test_a_visit_dated_in_its_window_records_no_deviation(make_subject, site, effects):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    visit = subject.visits[1]
    record_visit_date(visit, visit.target_date)
    assert (_deviations(), effects["refresh_flags"]) == ([], 1)


def test_the_last_visit_missed_records_one_deviation_and_completes_the_follow_up_once(make_subject, site, effects):
    subject = make_subject("leg-deb", site, date(2026, 1, 1))
    mark_missed(subject.visits[-1], "Patient abroad")
    (deviation,) = _deviations()
    assert (deviation.kind, deviation.reason) == ("missed_visit", "Patient abroad")
    assert (subject.status, subject.status_date) == (SubjectStatus.COMPLETED, date(2027, 6, 1))
    assert effects["refresh_flags"] == 1


def test_a_subject_leaving_the_study_refreshes_its_flags_once(make_subject, site, effects):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    ecrf.effects.after_subject_changed(subject, by=None)  # its 1- and 3-month visits are overdue on NOW
    assert _open_kinds() == ["visit_overdue", "visit_overdue"]
    end_participation(subject, SubjectStatus.WITHDRAWN, date(2027, 2, 1), "Withdrew consent")
    assert effects["refresh_flags"] == 2
    assert _open_kinds() == []  # visits not yet closed when the subject left no longer apply: their flags resolve


def _open_kinds() -> list[str]:
    return sorted(db.session.scalars(select(Flag.kind).where(Flag.status == FlagStatus.OPEN)))


def test_each_write_sends_its_signal_exactly_once(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    sent = []

    def heard(sender, **kwargs):
        sent.append(type(sender).__name__)

    with entry_saved.connected_to(heard), visit_changed.connected_to(heard), subject_changed.connected_to(heard):
        save_entry(subject.visits[0], instrument("rutherford"), EntryInput(values={"limb": "left", "category": 3}), entry=None)
        record_visit_date(subject.visits[1], date(2027, 2, 10), deviation_reason="late")
        mark_missed(subject.visits[2], "Patient abroad")
        end_participation(subject, SubjectStatus.WITHDRAWN, date(2027, 5, 1), "Withdrew consent")
    assert sent == ["CrfEntry", "Visit", "Visit", "Subject"]
