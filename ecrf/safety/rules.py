"""The causes of flags, found from the subjects' visits and entered forms.

Each rule reads thresholds from the study's protocol file (a rule with no parameter
there is off for the study) and returns `Cause`s. A cause has a stable key, so the
same finding is flagged once, and a flag whose cause is no longer found is resolved.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.extensions import db
from ecrf.instruments.coronary import MARKERS, marker_summary
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import SafetyRules
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.studies.models import Site
from ecrf.visits.models import Visit
from ecrf.visits.windows import WindowStatus, pending_status_filters


@dataclass(frozen=True)
class Cause:
    """Something found that deserves a flag."""

    key: str
    kind: str
    subject: Subject
    message: str
    safety: bool = False
    visit_id: int | None = None
    entry_id: int | None = None


#: The instruments whose data the rules read.
READ = ("abi", "rutherford", "villalta", "imaging_ich", "endpoint_events", "perioperative_events", "qfr", "adverse_events")


@dataclass
class Found:
    """The entered forms of a subject, by instrument: (entry, data) in visit order."""

    by_instrument: dict[str, list[tuple[CrfEntry, object]]]

    def rows(self, code: str) -> list[tuple[CrfEntry, object]]:
        return self.by_instrument.get(code, [])


def load_forms(subjects: list[Subject]) -> dict[int, Found]:
    """Every entered (not draft) form of the rules' instruments for these subjects, in a query per instrument."""
    ids = [subject.id for subject in subjects]
    entries = db.session.scalars(select(CrfEntry).where(
        CrfEntry.subject_id.in_(ids), CrfEntry.instrument.in_(READ), CrfEntry.status != EntryStatus.DRAFT, CrfEntry.none_reported.is_(False),
    )).all()
    by_code: dict[str, list[CrfEntry]] = defaultdict(list)
    for entry in entries:
        by_code[entry.instrument].append(entry)
    found: dict[int, Found] = {subject_id: Found(defaultdict(list)) for subject_id in ids}
    for code, group in by_code.items():
        model = instrument(code).model
        data = {row.entry_id: row for row in db.session.scalars(select(model).where(model.entry_id.in_([e.id for e in group])))}
        for entry in sorted(group, key=lambda e: (e.visit_id, e.sequence)):
            found[entry.subject_id].by_instrument[code].append((entry, data.get(entry.id)))
    return found


def find_causes(subject: Subject, forms: Found, today: date, now: datetime) -> list[Cause]:
    """Every current cause for one subject, under its study's protocol."""
    safety = protocol_for(subject.study.code).safety
    causes = _visits_overdue(subject, today) + _adverse_event_clocks(subject, forms, safety, now)
    for rule in SIGNALS:
        causes += rule(subject, forms, safety)
    return causes


def _overdue(visit: Visit, subject: Subject, today: date) -> Cause:
    return Cause(f"visit_overdue:{visit.id}", "visit_overdue", subject,
                 f"{visit.definition.label}: window closed {visit.window_end.isoformat()}, {(today - visit.window_end).days} days overdue",
                 visit_id=visit.id)


def _visits_overdue(subject: Subject, today: date) -> list[Cause]:
    return [_overdue(visit, subject, today) for visit in subject.visits if visit.status(today) is WindowStatus.OVERDUE]


def overdue_causes(site: Site, today: date) -> list[Cause]:
    """The overdue visits of a whole site, in one query (the same filters as the worklist's)."""
    overdue = pending_status_filters(Visit.window_start, Visit.window_end, today)[WindowStatus.OVERDUE]
    visits = db.session.scalars(
        select(Visit).join(Visit.subject).where(Subject.site_id == site.id, Visit.pending_clause(), overdue)
        .options(contains_eager(Visit.subject), joinedload(Visit.definition))
    ).all()
    return [_overdue(visit, visit.subject, today) for visit in visits]


def _adverse_event_clocks(subject: Subject, forms: Found, safety: SafetyRules, now: datetime) -> list[Cause]:
    causes = []
    for entry, ae in forms.rows("adverse_events"):
        if ae is None:
            continue
        term = ae.ae_term or "adverse event"
        # The clock runs for a serious event and, as a precaution, for one whose seriousness is coded unknown
        # (the computed deadline is set for those only).
        if ae.serious is not False and ae.reported_at is None and ae.sae_report_due_at is not None and ae.sae_report_due_at < now:
            what = "Serious adverse event" if ae.serious else "Adverse event of unknown seriousness"
            causes.append(Cause(
                f"sae_report_late:{entry.id}", "sae_report_late", subject,
                f"{what} \u201c{term}\u201d not reported to the sponsor within {safety.sae_report_hours} h "
                f"of the site becoming aware (due {ae.sae_report_due_at:%Y-%m-%d %H:%M} UTC)", entry_id=entry.id, visit_id=entry.visit_id,
            ))
        if ae.ongoing and entry.updated_at < now - timedelta(days=safety.ae_update_days):
            causes.append(Cause(
                f"ae_not_updated:{entry.id}:{entry.version}", "ae_not_updated", subject,
                f"Adverse event \u201c{term}\u201d is ongoing with no update for {(now - entry.updated_at).days} days",
                entry_id=entry.id, visit_id=entry.visit_id,
            ))
    return causes


def _signal(kind: str, subject: Subject, entry: CrfEntry, message: str) -> Cause:
    return Cause(f"{kind}:{entry.id}", kind, subject, message, safety=True, entry_id=entry.id, visit_id=entry.visit_id)


def _baseline_and_follow_ups(rows):
    baseline = next(((e, d) for e, d in rows if d is not None and e.visit.definition.target_day == 0), None)
    return baseline, [(e, d) for e, d in rows if d is not None and e.visit.definition.target_day > 0]


def _abi_drop(subject, forms, safety) -> list[Cause]:
    if safety.abi_drop is None:
        return []
    baseline, follow_ups = _baseline_and_follow_ups(forms.rows("abi"))
    if baseline is None:
        return []
    causes = []
    for entry, abi in follow_ups:
        sides = [abi.target_limb] if abi.target_limb else ["right", "left"]
        for side in sides:
            before, after = getattr(baseline[1], f"abi_{side}"), getattr(abi, f"abi_{side}")
            if before is not None and after is not None and before - after >= safety.abi_drop:
                causes.append(_signal("abi_drop", subject, entry, (
                    f"ABI decrease, {side} leg: {before} at baseline to {after} at {entry.visit.definition.label} "
                    f"(fall of {before - after}, threshold {safety.abi_drop})"
                )))
                break
    return causes


def _rutherford_worsening(subject, forms, safety) -> list[Cause]:
    if safety.rutherford_worsening is None:
        return []
    baseline, follow_ups = _baseline_and_follow_ups(forms.rows("rutherford"))
    if baseline is None or baseline[1].category is None:
        return []
    return [
        _signal("rutherford_worsening", subject, entry, (
            f"Rutherford worsening: category {baseline[1].category} at baseline to {data.category} at {entry.visit.definition.label}"
        ))
        for entry, data in follow_ups
        if data.category is not None and data.category - baseline[1].category >= safety.rutherford_worsening
    ]


def _villalta_severe(subject, forms, safety) -> list[Cause]:
    if safety.villalta_severe is None:
        return []
    causes = []
    for entry, data in forms.rows("villalta"):
        if data is None:
            continue
        ulcer = bool(data.ulcer) and safety.villalta_ulcer_is_severe
        if ulcer or (data.total is not None and data.total >= safety.villalta_severe):
            why = "venous ulcer" if ulcer else f"Villalta {data.total} (\u2265 {safety.villalta_severe})"
            causes.append(_signal("villalta_severe", subject, entry, f"Severe post-thrombotic syndrome at {entry.visit.definition.label}: {why}"))
    return causes


def _ich_after_randomization(subject, forms, safety) -> list[Cause]:
    if safety.ich_hours is None or subject.index_at is None:
        return []
    causes = []
    for entry, data in forms.rows("imaging_ich"):
        if data is None or not data.ich_present or data.imaging_datetime is None:
            continue
        hours = (data.imaging_datetime - subject.index_at).total_seconds() / 3600
        if hours <= safety.ich_hours:
            causes.append(_signal("ich_after_randomization", subject, entry, (
                f"Intracranial haemorrhage on imaging {hours:.0f} h after randomization (within {safety.ich_hours} h)"
            )))
    return causes


def _early_death(subject, forms, safety) -> list[Cause]:
    if safety.early_death_days is None:
        return []
    limit = subject.index_date + timedelta(days=safety.early_death_days)
    dates = [data.event_date for _, data in forms.rows("endpoint_events") if data is not None and data.event_type == "death" and data.event_date]
    if subject.status is SubjectStatus.DIED and subject.status_date:
        dates.append(subject.status_date)
    early = [day for day in dates if day <= limit]
    if not early:
        return []
    days = (min(early) - subject.index_date).days
    return [Cause(f"early_death:{subject.id}", "early_death", subject,
                  f"Death {days} days after the procedure (within {safety.early_death_days} days)", safety=True)]


def _periprocedural_mi(subject, forms, safety) -> list[Cause]:
    if safety.periprocedural_mi_uln_multiple is None:
        return []
    causes = []
    for entry, data in forms.rows("perioperative_events"):
        if data is None or not data.periprocedural_mi:
            continue
        found = "; ".join(f"{name} {marker_summary(data, prefix)}" for prefix, name in MARKERS if getattr(data, f"{prefix}_mi"))
        causes.append(_signal("periprocedural_mi", subject, entry, (
            f"Periprocedural MI: {found} (> {safety.periprocedural_mi_uln_multiple}\u00d7 ULN)"
        )))
    return causes


def _qfr_low(subject, forms, safety) -> list[Cause]:
    if safety.qfr_flag_at_or_below is None:
        return []
    return [
        _signal("qfr_low", subject, entry, f"QFR {data.qfr_target_vessel} at {entry.visit.definition.label} (\u2264 {safety.qfr_flag_at_or_below})")
        for entry, data in forms.rows("qfr")
        if data is not None and data.qfr_target_vessel is not None and data.qfr_target_vessel <= safety.qfr_flag_at_or_below
        and (safety.qfr_visit is None or entry.visit.definition.code == safety.qfr_visit)
    ]


def _major_amputation(subject, forms, safety) -> list[Cause]:
    if not safety.major_amputation:
        return []
    return [
        _signal("major_amputation", subject, entry, f"Major amputation, {data.amputation_side or 'side not entered'}, {data.event_date or 'date not entered'}")
        for entry, data in forms.rows("endpoint_events") if data is not None and data.event_type == "amputation" and data.amputation_level == "major"
    ]


SIGNALS = [_abi_drop, _rutherford_worsening, _villalta_severe, _ich_after_randomization, _early_death, _periprocedural_mi, _qfr_low, _major_amputation]
