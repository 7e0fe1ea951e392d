"""The causes of flags, found from the subjects' visits and entered forms.

Each rule reads thresholds from the study's protocol file (a rule with no parameter
there is off for the study) and returns `Cause`s. A cause has a stable key, so the
same finding is flagged once, and a flag whose cause is no longer found is resolved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from ecrf.clock import to_local
from ecrf.crfs.models import CrfData, CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.extensions import db
from ecrf.instruments.abi import no_pedal_signal
from ecrf.instruments.coronary import MARKERS, marker_summary
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import SafetyRules
from ecrf.studies.models import Site
from ecrf.subjects.models import Subject, SubjectStatus
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
READ = ("abi", "abi_post", "rutherford", "villalta", "imaging_ich", "endpoint_events", "perioperative_events", "qfr", "adverse_events")


@dataclass
class Found:
    """The entered forms of a subject, by instrument: (entry, data) in visit order."""

    by_instrument: dict[str, list[tuple[CrfEntry, CrfData | None]]]

    def rows(self, code: str) -> list[tuple[CrfEntry, CrfData | None]]:
        return self.by_instrument.get(code, [])


def load_forms(subjects: Sequence[Subject]) -> dict[int, Found]:
    """Every entered (not draft) form of the rules' instruments for these subjects, in a query per instrument."""
    ids = [subject.id for subject in subjects]
    entries = db.session.scalars(
        select(CrfEntry).where(
            CrfEntry.subject_id.in_(ids),
            CrfEntry.instrument.in_(READ),
            CrfEntry.status != EntryStatus.DRAFT,
            CrfEntry.none_reported.is_(False),
        )
    ).all()
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
    return Cause(
        f"visit_overdue:{visit.id}",
        "visit_overdue",
        subject,
        f"{visit.definition.label}: window closed {visit.window_end.isoformat()}, {(today - visit.window_end).days} days overdue",
        visit_id=visit.id,
    )


def _visits_overdue(subject: Subject, today: date) -> list[Cause]:
    return [_overdue(visit, subject, today) for visit in subject.visits if visit.status(today) is WindowStatus.OVERDUE]


def overdue_causes(site: Site, today: date) -> list[Cause]:
    """The overdue visits of a whole site, in one query (the same filters as the worklist's)."""
    overdue = pending_status_filters(Visit.window_start, Visit.window_end, today)[WindowStatus.OVERDUE]
    visits = db.session.scalars(
        select(Visit)
        .join(Visit.subject)
        .where(Subject.site_id == site.id, Visit.pending_clause(), overdue)
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
            causes.append(
                Cause(
                    f"sae_report_late:{entry.id}",
                    "sae_report_late",
                    subject,
                    f"{what} \u201c{term}\u201d not reported to the sponsor within {safety.sae_report_hours} h "
                    f"of the site becoming aware (due {ae.sae_report_due_at:%Y-%m-%d %H:%M} UTC)",
                    entry_id=entry.id,
                    visit_id=entry.visit_id,
                )
            )
        if ae.ongoing and entry.updated_at < now - timedelta(days=safety.ae_update_days):
            causes.append(
                Cause(
                    f"ae_not_updated:{entry.id}:{entry.version}",
                    "ae_not_updated",
                    subject,
                    f"Adverse event \u201c{term}\u201d is ongoing with no update for {(now - entry.updated_at).days} days",
                    entry_id=entry.id,
                    visit_id=entry.visit_id,
                )
            )
    return causes


def _signal(kind: str, subject: Subject, entry: CrfEntry, message: str) -> Cause:
    return Cause(f"{kind}:{entry.id}", kind, subject, message, safety=True, entry_id=entry.id, visit_id=entry.visit_id)


# -- loss of the procedural gain (ABI, Rutherford) -------------------------------------------------
# PARC (../shared/reference/clinical.md 1.3): failure at follow-up is a fall from the value the procedure achieved,
# or a return to the pre-procedure value. So each follow-up value is judged against
#   - the pre-procedure value: the baseline (day 0) form, entered before the procedure;
#   - the best value since the procedure, before this follow-up: for the ABI the highest of the post-procedure ABI
#     (`abi_post`, at the index procedure or discharge) and the earlier follow-ups; for Rutherford, which has no
#     post-procedure form, the lowest category at an earlier follow-up. The first follow-up is the first value after
#     the procedure, so with nothing before it it is judged against the pre-procedure value.


@dataclass(frozen=True)
class _Reading:
    """One value of a limb measurement, as shown, and when it was taken."""

    value: Decimal | int
    text: str
    #: "before the procedure", "after the procedure", "at 3 months".
    when: str


def _follow_ups(rows) -> list[tuple[CrfEntry, CrfData]]:
    """Entered rows of visits after day 0, in visit order."""
    found = [(e, d) for e, d in rows if d is not None and e.visit.definition.target_day > 0]
    return sorted(found, key=lambda row: (row[0].visit.definition.target_day, row[0].sequence))


def _pre_procedure(rows):
    """The data of the day-0 form (entered before the procedure), if any."""
    return next((d for e, d in rows if d is not None and e.visit.definition.target_day == 0), None)


def _course(after_procedure: list[_Reading], follow_ups, read, better):
    """(entry, data, reading, best reading since the procedure before it, or None) for each follow-up with a value.

    `read(entry, data)` gives a follow-up's reading or None; `better(a, b)` says whether value a beats value b.
    """
    best = None
    for reading in after_procedure:
        if best is None or better(reading.value, best.value):
            best = reading
    for entry, data in follow_ups:
        reading = read(entry, data)
        if reading is None:
            continue
        yield entry, data, reading, best
        if best is None or better(reading.value, best.value):
            best = reading


def _abi_reading(data, side: str, when: str) -> _Reading | None:
    value = getattr(data, f"abi_{side}")
    if value is None:
        return None
    no_signal = no_pedal_signal(lambda name: getattr(data, name), side)
    return _Reading(value, f"{value} (no signal)" if no_signal else str(value), when)


def _abi_drop(subject, forms, safety) -> list[Cause]:
    """ABI fall from the best value since the procedure; ABI back to (near) the pre-procedure value (PARC)."""
    if safety.abi_drop is None:
        return []
    pre_data = _pre_procedure(forms.rows("abi"))
    post_rows = [d for _, d in forms.rows("abi_post") if d is not None]
    follow_ups = _follow_ups(forms.rows("abi"))
    causes: dict[str, Cause] = {}
    for side in ("right", "left"):
        pre = _abi_reading(pre_data, side, "before the procedure") if pre_data is not None else None
        after = [r for r in (_abi_reading(d, side, "after the procedure") for d in post_rows) if r is not None]
        legs = [(e, d) for e, d in follow_ups if d.target_limb in (None, side)]  # a follow-up naming its target limb: that leg only

        def read(entry, data, side=side):
            return _abi_reading(data, side, f"at {entry.visit.definition.label}")

        for entry, _, now, best in _course(after, legs, read, lambda a, b: a > b):
            reference = best or pre
            fall = None if reference is None else reference.value - now.value
            if fall is not None and fall >= safety.abi_drop:
                assert reference is not None  # fall is only computed from a reference
                note = "best value since the procedure" if best else "no value after it entered"
                causes.setdefault(
                    f"abi_drop:{entry.id}",
                    _signal(
                        "abi_drop",
                        subject,
                        entry,
                        (
                            f"ABI decrease, {side} leg: {reference.text} {reference.when} ({note}) to {now.text} {now.when} "
                            f"(fall of {fall:.2f}, threshold {safety.abi_drop:.2f})"
                        ),
                    ),
                )
            margin = safety.abi_return_margin
            if margin is not None and pre is not None and best is not None and best.value - pre.value >= margin and now.value - pre.value < margin:
                causes.setdefault(
                    f"abi_return:{entry.id}",
                    _signal(
                        "abi_return",
                        subject,
                        entry,
                        (
                            f"ABI back to the pre-procedure value, {side} leg: {now.text} {now.when}, {pre.text} {pre.when} "
                            f"(less than {margin:.2f} above it; it had reached {best.text} {best.when})"
                        ),
                    ),
                )
    return list(causes.values())


def _rutherford_worsening(subject, forms, safety) -> list[Cause]:
    """Rutherford worse than the best category since the procedure; back to the pre-procedure category after an improvement (PARC)."""
    if safety.rutherford_worsening is None:
        return []
    pre_data = _pre_procedure(forms.rows("rutherford"))
    pre = None if pre_data is None or pre_data.category is None else _Reading(pre_data.category, str(pre_data.category), "before the procedure")

    def read(entry, data):
        return None if data.category is None else _Reading(data.category, str(data.category), f"at {entry.visit.definition.label}")

    causes = []
    for entry, data, now, best in _course([], _follow_ups(forms.rows("rutherford")), read, lambda a, b: a < b):
        leg = f", {data.limb} leg" if data.limb else ""
        reference = best or pre
        if reference is not None and now.value - reference.value >= safety.rutherford_worsening:
            note = " (best since the procedure)" if best else ""
            causes.append(
                _signal(
                    "rutherford_worsening",
                    subject,
                    entry,
                    (
                        f"Rutherford worsening{leg}: category {reference.text} {reference.when}{note} to {now.text} {now.when} "
                        f"(worse by {now.value - reference.value}, threshold {safety.rutherford_worsening})"
                    ),
                )
            )
        if pre is not None and best is not None and best.value < pre.value <= now.value:
            causes.append(
                _signal(
                    "rutherford_return",
                    subject,
                    entry,
                    (
                        f"Rutherford back to the pre-procedure category{leg}: {now.text} {now.when}, {pre.text} {pre.when} "
                        f"(it had improved to {best.text} {best.when})"
                    ),
                )
            )
    return causes


def _villalta_severe(subject, forms, safety) -> list[Cause]:
    """Severe post-thrombotic syndrome, judged only at visits from the protocol's day on (after the acute phase)."""
    if safety.villalta_severe is None:
        return []
    first_day = safety.villalta_pts_from_day or 1  # the schema requires it; never at baseline in any case
    causes = []
    for entry, data in forms.rows("villalta"):
        if data is None or entry.visit.definition.target_day < first_day:
            continue
        ulcer = bool(data.ulcer) and safety.villalta_ulcer_is_severe
        if ulcer or (data.total is not None and data.total >= safety.villalta_severe):
            why = "venous ulcer" if ulcer else f"Villalta {data.total} (\u2265 {safety.villalta_severe})"
            causes.append(_signal("villalta_severe", subject, entry, f"Severe post-thrombotic syndrome at {entry.visit.definition.label}: {why}"))
    return causes


def _ich_after_randomization(subject, forms, safety) -> list[Cause]:
    """Symptomatic ICH within `ich_hours` after randomization (the index instant, to the second): one flag per subject.

    A scan counts from the randomization instant on (before it, a haemorrhage is an exclusion, not an outcome)
    when its haemorrhage is symptomatic by `sich_symptomatic_by`; an asymptomatic one raises nothing. A
    symptomatic ICH entered as an endpoint event counts when its date (no time is recorded) falls on a site
    calendar day the window touches. The earliest finding names the flag.
    """
    if safety.ich_hours is None or subject.index_at is None:
        return []
    start = subject.index_at
    end = start + timedelta(hours=safety.ich_hours)
    found: list[tuple[datetime, CrfEntry, str]] = []
    for entry, data in forms.rows("imaging_ich"):
        if data is None or not data.ich_present or data.imaging_datetime is None or not start <= data.imaging_datetime <= end:
            continue
        why = _symptomatic_because(data, safety.sich_symptomatic_by)
        if why:
            hours = (data.imaging_datetime - start).total_seconds() / 3600
            found.append((data.imaging_datetime, entry, f"on imaging {_hours(hours)} h after randomization ({why})"))
    timezone = subject.site.timezone
    first_day, last_day = to_local(start, timezone).date(), to_local(end, timezone).date()
    for entry, data in forms.rows("endpoint_events"):
        if (
            data is None
            or data.event_type != "intracranial_haemorrhage"
            or data.ich_symptomatic is not True
            or data.event_date is None
            or not first_day <= data.event_date <= last_day
        ):
            continue
        found.append(
            (
                datetime.combine(data.event_date, time(), ZoneInfo(timezone)),
                entry,
                f"entered as an endpoint event dated {data.event_date.isoformat()} (day {(data.event_date - first_day).days})",
            )
        )
    if not found:
        return []
    _, entry, what = min(found, key=lambda item: item[0])
    more = f"; {len(found) - 1} more finding(s)" if len(found) > 1 else ""
    return [
        Cause(
            f"ich_after_randomization:subject:{subject.id}",
            "ich_after_randomization",
            subject,
            f"Symptomatic intracranial haemorrhage within {safety.ich_hours} h after randomization: {what}{more}",
            safety=True,
            entry_id=entry.id,
            visit_id=entry.visit_id,
        )
    ]


def _symptomatic_because(data, by: str) -> str | None:
    """Why a haemorrhage on imaging is symptomatic under the protocol's choice, or None."""
    reasons = []
    if by in ("investigator", "either") and data.symptomatic is True:
        reasons.append("investigator")
    if by in ("heidelberg", "either") and data.symptomatic_heidelberg is True:
        reasons.append(f"NIHSS up {data.nihss_increase} points")
    return ", ".join(reasons) or None


def _hours(hours: float) -> str:
    """Hours shown with one decimal, never rounded up to the limit (47.99 h reads 47.9, not 48.0)."""
    return f"{int(hours * 10) / 10:.1f}"


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
    return [
        Cause(
            f"early_death:{subject.id}", "early_death", subject, f"Death {days} days after the procedure (within {safety.early_death_days} days)", safety=True
        )
    ]


def _periprocedural_mi(subject, forms, safety) -> list[Cause]:
    if safety.periprocedural_mi_uln_multiple is None:
        return []
    causes = []
    for entry, data in forms.rows("perioperative_events"):
        if data is None or not data.periprocedural_mi:
            continue
        found = "; ".join(f"{name} {marker_summary(data, prefix)}" for prefix, name in MARKERS if getattr(data, f"{prefix}_mi"))
        causes.append(_signal("periprocedural_mi", subject, entry, (f"Periprocedural MI: {found} (> {safety.periprocedural_mi_uln_multiple}\u00d7 ULN)")))
    return causes


def _qfr_low(subject, forms, safety) -> list[Cause]:
    if safety.qfr_flag_at_or_below is None:
        return []
    return [
        _signal("qfr_low", subject, entry, f"QFR {data.qfr_target_vessel} at {entry.visit.definition.label} (\u2264 {safety.qfr_flag_at_or_below})")
        for entry, data in forms.rows("qfr")
        if data is not None
        and data.qfr_target_vessel is not None
        and data.qfr_target_vessel <= safety.qfr_flag_at_or_below
        and (safety.qfr_visit is None or entry.visit.definition.code == safety.qfr_visit)
    ]


def _amputation(subject, forms, safety) -> list[Cause]:
    """An amputation of the kind the protocol flags: any (minor or major), or major only."""
    if safety.amputation is None:
        return []
    kind = "amputation" if safety.amputation == "any" else "major_amputation"
    describe = instrument("endpoint_events").describe
    return [
        _signal(kind, subject, entry, describe(data))
        for entry, data in forms.rows("endpoint_events")
        if data is not None and data.event_type == "amputation" and (safety.amputation == "any" or data.amputation_level == "major")
    ]


SIGNALS = [_abi_drop, _rutherford_worsening, _villalta_severe, _ich_after_randomization, _early_death, _periprocedural_mi, _qfr_low, _amputation]
