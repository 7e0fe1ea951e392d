"""The datasets of the tabular exports: their columns (what the data dictionary describes) and their rows, read
from the database in chunks (`yield_per`: a server-side cursor on PostgreSQL), never a whole table at once.

Each dataset is a `Dataset`: its name, its `Column`s and a function yielding its rows as tuples of plain values
(None, bool, int, Decimal, str, date, datetime). The writers of `ecrf.exports.tabular` turn them into CSV,
Stata, SPSS or SAS files. Every row is limited to the `Scope`: its sites, the arm only at the sites where it is
shown, and at a blinded assessor's sites only the visits and forms the protocol gives the assessor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import aliased

from ecrf.auth.models import User
from ecrf.clock import site_today
from ecrf.crfs.items import Item, Kind
from ecrf.crfs.models import CrfEntry, EntryStatus, Signature
from ecrf.crfs.registry import instrument
from ecrf.deviations.models import ProtocolDeviation
from ecrf.exports.scope import Scope
from ecrf.extensions import db
from ecrf.queries.models import DataQuery, QueryMessage
from ecrf.studies.models import Arm, VisitDefinition
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit, left_follow_up_before
from ecrf.visits.windows import WindowStatus, window_status

#: Rows fetched from the database at a time.
CHUNK = 2000
#: Longest variable name (Stata's limit; SPSS allows 64): a missing-code column of a long item name is shortened.
NAME_LIMIT = 32
#: The suffix of an item's missing-data code column.
MISSING_SUFFIX = "_mc"
#: The form statuses of an entry, in order: where it is in its life (verified and signed are marks on a complete
#: entry; a signed entry is "signed" whether or not it is also verified).
FORM_STATUSES = ("draft", "complete", "verified", "signed", "locked")
WINDOW_CODES = tuple((status.value, status.value) for status in WindowStatus)
YES_NO = ((True, "Yes"), (False, "No"))
TICKED = ((True, "ticked"), (False, "not ticked"))

#: How each column is stored: "number", "date", "datetime" (UTC) or "text".
STORAGE = {
    Kind.INTEGER: "number",
    Kind.DECIMAL: "number",
    Kind.GRADED: "number",
    Kind.YES_NO: "number",
    Kind.TICK: "number",
    Kind.CHOICE: "text",
    Kind.TEXT: "text",
    Kind.PARTIAL_DATE: "text",
    Kind.DATE: "date",
    Kind.DATETIME: "datetime",
}


@dataclass(frozen=True)
class Column:
    """One column of a dataset, as the data dictionary describes it."""

    name: str
    label: str
    #: The dictionary's type: an item's kind (integer, decimal, choice, graded, yes_no, tick, date, datetime,
    #: partial_date, text) or, for the other columns, text, integer, date, datetime, yes_no.
    type: str
    unit: str = ""
    allowed: str = ""
    #: The code list: (code, label); yes/no and tick codes are True/False (written 1/0).
    codes: tuple[tuple[object, str], ...] = ()
    derived: str = ""
    instrument: str = ""
    visits: str = ""

    @property
    def storage(self) -> str:
        """How the value is stored: number, date, datetime or text."""
        return {"integer": "number", "yes_no": "number", "text": "text", "date": "date", "datetime": "datetime"}.get(self.type) or STORAGE[Kind(self.type)]


@dataclass(frozen=True)
class Dataset:
    """One dataset of an export: its name, columns and rows (read when iterated)."""

    name: str
    label: str
    columns: list[Column]
    rows: Callable[[], Iterator[tuple[Any, ...]]]
    #: The rows expected, at most (before the blinded assessor's limits): for the progress bar.
    expected: Callable[[], int]


def missing_column_name(name: str) -> str:
    """The name of an item's missing-data code column: `<item>_mc`, the item's name shortened to fit 32 characters."""
    return f"{name[: NAME_LIMIT - len(MISSING_SUFFIX)]}{MISSING_SUFFIX}"


def _item_columns(item: Item, code: str, visits: str) -> list[Column]:
    """An item's column and, for an entered item that accepts missing-data codes, its missing-code column."""
    allowed = ""
    if item.low is not None or item.high is not None:
        allowed = f"{item.low if item.low is not None else ''} to {item.high if item.high is not None else ''}"
    elif item.kind is Kind.TEXT and item.max_length:
        allowed = f"at most {item.max_length} characters"
    elif item.kind is Kind.PARTIAL_DATE:
        allowed = "YYYY-MM-DD, YYYY-MM or YYYY"
    codes = tuple(item.codes) if item.kind is not Kind.TICK else TICKED
    value = Column(
        item.name,
        item.label,
        item.kind.value,
        unit=item.unit,
        allowed=allowed,
        codes=codes,
        derived=f"from {', '.join(item.derived_from)}" if item.derived_from is not None else "",
        instrument=code,
        visits=visits,
    )
    if item.derived or not item.accepted_missing:
        return [value]
    accepted = tuple((m.value, m.label) for m in item.accepted_missing)
    return [
        value,
        Column(
            missing_column_name(item.name),
            f"{item.label}: missing-data code",
            "text",
            allowed=", ".join(code for code, _ in accepted),
            codes=accepted,
            instrument=code,
            visits=visits,
        ),
    ]


def form_status(status: EntryStatus, verified: bool, signed: bool) -> str:
    """An entry's form status: draft, complete, verified, signed or locked."""
    if status is EntryStatus.LOCKED:
        return "locked"
    if status is EntryStatus.DRAFT:
        return "draft"
    return "signed" if signed else "verified" if verified else "complete"


class Reader:
    """The datasets of one scope's export, in order: one per instrument, then subjects, visits, queries, deviations."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.protocol = scope.protocol
        self.with_arm = bool(scope.arm_site_ids)
        self.site_codes = {site.id: site.code for site in scope.sites}
        self.today = {site.id: site_today(site) for site in scope.sites}
        self.arm_codes = [arm.code for arm in self.protocol.arms]
        self._instruments = cache(scope.instruments)

    # -- what the scope shows ---------------------------------------------------------------

    def instruments(self, site_id: int, visit_code: str, arm_code: str | None) -> list[str]:
        """The forms of a visit exported for a subject of this site and arm (cached)."""
        return self._instruments(site_id, visit_code, arm_code)

    def visit_shown(self, site_id: int, visit_code: str, arm_code: str | None) -> bool:
        """Every visit, except at a blinded assessor's site: there only the visits with forms of theirs."""
        return site_id not in self.scope.blinded_site_ids or bool(self.instruments(site_id, visit_code, arm_code))

    def arm(self, site_id: int, arm_code: str | None) -> tuple[Any, ...]:
        """The arm cell of a row: none when no site of the scope shows the arm, empty where this one does not."""
        if not self.with_arm:
            return ()
        return (arm_code if self.scope.shows_arm(site_id) else None,)

    def instrument_visits(self) -> dict[str, list[str]]:
        """Instrument code -> the visit codes where the scope exports it, in protocol order."""
        found: dict[str, list[str]] = {}
        for visit in self.protocol.visits:
            for site in self.scope.sites:
                for arm_code in [None, *self.arm_codes]:
                    for code in self.instruments(site.id, visit.code, arm_code):
                        if visit.code not in found.setdefault(code, []):
                            found[code].append(visit.code)
        return found

    def _head(self, *, visit: bool = True) -> list[Column]:
        columns = [Column("subject", "Study subject ID", "text"), Column("site", "Site", "text")]
        if self.with_arm:
            columns.append(Column("arm", "Arm", "text", codes=tuple((arm.code, arm.label) for arm in self.protocol.arms)))
        if visit:
            visits = tuple(
                (v.code, v.label)
                for v in self.protocol.visits
                if any(self.visit_shown(site.id, v.code, arm_code) for site in self.scope.sites for arm_code in [None, *self.arm_codes])
            )
            columns.append(Column("visit", "Visit", "text", codes=visits))
        return columns

    def _scoped(self, statement: Select) -> Select:
        return statement.where(Subject.study_id == self.scope.study.id, Subject.site_id.in_(self.scope.site_ids))

    def _count(self, statement: Select) -> Callable[[], int]:
        return lambda: db.session.scalar(select(func.count()).select_from(statement.subquery())) or 0

    def _stream(self, statement: Select) -> Iterator[Any]:
        return iter(db.session.execute(statement.execution_options(yield_per=CHUNK)))

    def datasets(self) -> list[Dataset]:
        """Every dataset of the export, in order."""
        by_instrument = self.instrument_visits()
        return [
            *(self.instrument_dataset(code, visits) for code, visits in by_instrument.items()),
            self.subjects(),
            self.visits(),
            self.queries(),
            self.deviations(),
        ]

    # -- one dataset per instrument --------------------------------------------------------

    def instrument_dataset(self, code: str, visit_codes: list[str]) -> Dataset:
        """One row per entry of the instrument: who, where, which visit and how far the form is, then every item
        (with its missing-data code) and the derived values."""
        described = instrument(code)
        items = list(described.items)
        visits = " ".join(visit_codes)
        head = [
            *self._head(),
            Column("visit_date", "Visit date", "date", instrument=code, visits=visits),
            Column("window_status", "Visit window status", "text", codes=WINDOW_CODES, instrument=code, visits=visits),
        ]
        if described.repeating:
            head += [
                Column("entry", "Entry number at the visit", "integer", instrument=code, visits=visits),
                Column("none_reported", "None to report at this visit", "yes_no", codes=YES_NO, instrument=code, visits=visits),
            ]
        head.append(Column("form_status", "Form status", "text", codes=tuple((s, s) for s in FORM_STATUSES), instrument=code, visits=visits))
        columns = head + [column for item in items for column in _item_columns(item, code, visits)]
        model = described.model
        table = model.__table__  # type: ignore[attr-defined]
        signed = exists().where(Signature.entry_id == CrfEntry.id, Signature.voided_at.is_(None))
        statement = self._scoped(
            select(
                Subject.subject_code,
                Subject.site_id,
                Arm.code,
                Subject.status,
                Subject.status_date,
                VisitDefinition.code,
                Visit.visit_date,
                Visit.window_start,
                Visit.window_end,
                Visit.missed,
                CrfEntry.sequence,
                CrfEntry.none_reported,
                CrfEntry.status,
                CrfEntry.verified_at,
                signed,
                CrfEntry.missing,
                *(table.c[item.name] for item in items),
            )
            .select_from(CrfEntry)
            .join(Subject, Subject.id == CrfEntry.subject_id)
            .join(Visit, Visit.id == CrfEntry.visit_id)
            .join(VisitDefinition, VisitDefinition.id == Visit.definition_id)
            .outerjoin(Arm, Arm.id == Subject.arm_id)
            .outerjoin(model, model.entry_id == CrfEntry.id)
            .where(CrfEntry.instrument == code)
        )
        ordered = statement.order_by(Subject.subject_code, VisitDefinition.position, CrfEntry.sequence)
        repeating = described.repeating

        def rows() -> Iterator[tuple[Any, ...]]:
            for row in self._stream(ordered):
                subject, site_id, arm_code, status, status_date, visit_code, visit_date, start, end, missed = row[:10]
                if code not in self.instruments(site_id, visit_code, arm_code):
                    continue
                sequence, none_reported, entry_status, verified_at, is_signed, missing = row[10:16]
                window = window_status(
                    start, end, today=self.today[site_id], visit_date=visit_date, missed=missed, not_applicable=left_follow_up_before(status, status_date, end)
                )
                out: list[Any] = [subject, self.site_codes[site_id], *self.arm(site_id, arm_code), visit_code, visit_date, window.value]
                if repeating:
                    out += [sequence, none_reported]
                out.append(form_status(entry_status, verified_at is not None, bool(is_signed)))
                missing = missing or {}
                for item, value in zip(items, row[16:], strict=True):
                    out.append(value)
                    if not item.derived and item.accepted_missing:
                        out.append((missing.get(item.name) or {}).get("code"))
                yield tuple(out)

        return Dataset(code, described.label, columns, rows, self._count(statement))

    # -- subjects, visits, queries, deviations ---------------------------------------------------

    def subjects(self) -> Dataset:
        """One row per subject: site, arm where shown, index and consent dates, status and its date."""
        index_label = self.protocol.index.label
        columns = [
            *self._head(visit=False),
            Column("index_date", f"Index date (day 0): {index_label}", "date"),
            Column("consent_date", "Consent date", "date"),
            Column("status", "Subject status", "text", codes=tuple((s.value, s.label) for s in SubjectStatus)),
            Column("status_date", "Date the status took effect", "date"),
            Column("status_reason", "Reason the subject left the study", "text"),
        ]
        statement = self._scoped(
            select(
                Subject.subject_code,
                Subject.site_id,
                Arm.code,
                Subject.index_date,
                Subject.consent_date,
                Subject.status,
                Subject.status_date,
                Subject.status_reason,
            ).outerjoin(Arm, Arm.id == Subject.arm_id)
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for subject, site_id, arm_code, index_date, consent_date, status, status_date, reason in self._stream(statement.order_by(Subject.subject_code)):
                yield (subject, self.site_codes[site_id], *self.arm(site_id, arm_code), index_date, consent_date, status.value, status_date, reason)

        return Dataset("subjects", "Subjects", columns, rows, self._count(statement))

    def visits(self) -> Dataset:
        """One row per scheduled visit: target, window, date, window status, missed and why, deviation reasons."""
        columns = [
            *self._head(),
            Column("target_date", "Target date", "date"),
            Column("window_start", "Window: first day", "date"),
            Column("window_end", "Window: last day", "date"),
            Column("visit_date", "Visit date", "date"),
            Column("window_status", "Visit window status", "text", codes=WINDOW_CODES),
            Column("missed", "Marked missed", "yes_no", codes=YES_NO),
            Column("missed_reason", "Why the visit was missed", "text"),
            Column("deviation_reason", "Reason given for the visit's protocol deviations (out of window, missed), joined by ' | '", "text"),
        ]
        statement = self._scoped(
            select(
                Visit.id,
                Subject.subject_code,
                Subject.site_id,
                Arm.code,
                Subject.status,
                Subject.status_date,
                VisitDefinition.code,
                Visit.target_date,
                Visit.window_start,
                Visit.window_end,
                Visit.visit_date,
                Visit.missed,
                Visit.missed_reason,
                ProtocolDeviation.reason,
            )
            .select_from(Visit)
            .join(Subject, Subject.id == Visit.subject_id)
            .join(VisitDefinition, VisitDefinition.id == Visit.definition_id)
            .outerjoin(Arm, Arm.id == Subject.arm_id)
            .outerjoin(ProtocolDeviation, ProtocolDeviation.visit_id == Visit.id)
        )
        ordered = statement.order_by(Subject.subject_code, VisitDefinition.position, ProtocolDeviation.id)
        counted = self._scoped(select(Visit.id).join(Subject, Subject.id == Visit.subject_id))

        def one(group: list[Any]) -> tuple[Any, ...] | None:
            _, subject, site_id, arm_code, status, status_date, code, target, start, end, visit_date, missed, missed_reason, _ = group[0]
            if not self.visit_shown(site_id, code, arm_code):
                return None
            window = window_status(
                start, end, today=self.today[site_id], visit_date=visit_date, missed=missed, not_applicable=left_follow_up_before(status, status_date, end)
            )
            reasons = " | ".join(row[-1] for row in group if row[-1])
            return (
                subject,
                self.site_codes[site_id],
                *self.arm(site_id, arm_code),
                code,
                target,
                start,
                end,
                visit_date,
                window.value,
                missed,
                missed_reason,
                reasons or None,
            )

        def rows() -> Iterator[tuple[Any, ...]]:
            for group in _grouped(self._stream(ordered), key=lambda row: row[0]):
                row = one(group)
                if row is not None:
                    yield row

        return Dataset("visits", "Scheduled visits", columns, rows, self._count(counted))

    def queries(self) -> Dataset:
        """One row per query: where it is (subject, visit, form, item), its status, who raised it and when, the
        question, and its last step."""
        columns = [
            Column("query_id", "Query number", "integer"),
            *self._head(),
            Column("instrument", "Form (instrument code)", "text"),
            Column("entry", "Entry number at the visit", "integer"),
            Column("item", "Item the query is about", "text"),
            Column("status", "Query status", "text", codes=(("open", "open"), ("answered", "answered"), ("closed", "closed"))),
            Column("raised_at", "Raised at (UTC)", "datetime"),
            Column("raised_by", "Raised by (email)", "text"),
            Column("question", "The question", "text"),
            Column("last_step", "Last step of the thread", "text", codes=tuple((k, k) for k in ("raise", "answer", "close", "reopen"))),
            Column("last_step_at", "Last step at (UTC)", "datetime"),
            Column("last_text", "Text of the last step", "text"),
        ]
        first, last = aliased(QueryMessage), aliased(QueryMessage)
        first_id = select(func.min(QueryMessage.id)).where(QueryMessage.query_id == DataQuery.id).scalar_subquery()
        last_id = select(func.max(QueryMessage.id)).where(QueryMessage.query_id == DataQuery.id).scalar_subquery()
        statement = self._scoped(
            select(
                DataQuery.id,
                Subject.subject_code,
                Subject.site_id,
                Arm.code,
                VisitDefinition.code,
                CrfEntry.instrument,
                CrfEntry.sequence,
                DataQuery.field,
                DataQuery.status,
                DataQuery.raised_at,
                User.email,
                first.text,
                last.kind,
                last.at,
                last.text,
            )
            .select_from(DataQuery)
            .join(CrfEntry, CrfEntry.id == DataQuery.entry_id)
            .join(Subject, Subject.id == DataQuery.subject_id)
            .join(Visit, Visit.id == CrfEntry.visit_id)
            .join(VisitDefinition, VisitDefinition.id == Visit.definition_id)
            .join(User, User.id == DataQuery.raised_by_id)
            .outerjoin(Arm, Arm.id == Subject.arm_id)
            .outerjoin(first, first.id == first_id)
            .outerjoin(last, last.id == last_id)
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for row in self._stream(statement.order_by(DataQuery.id)):
                query_id, subject, site_id, arm_code, visit_code, code, sequence, field, status, raised_at, email, question, kind, at, text = row
                if code not in self.instruments(site_id, visit_code, arm_code):
                    continue
                yield (
                    query_id,
                    subject,
                    self.site_codes[site_id],
                    *self.arm(site_id, arm_code),
                    visit_code,
                    code,
                    sequence,
                    field,
                    status.value,
                    raised_at,
                    email,
                    question,
                    kind,
                    at,
                    text,
                )

        return Dataset("queries", "Data queries", columns, rows, self._count(statement))

    def deviations(self) -> Dataset:
        """One row per protocol deviation: subject, visit (if any), kind, what happened, the reason, who recorded it
        and when. A blinded assessor gets only those of their visits."""
        columns = [
            Column("deviation_id", "Deviation number", "integer"),
            *self._head(),
            Column("kind", "Kind of deviation", "text", codes=(("visit_out_of_window", "visit out of window"), ("missed_visit", "missed visit"))),
            Column("description", "What happened", "text"),
            Column("reason", "Reason", "text"),
            Column("recorded_at", "Recorded at (UTC)", "datetime"),
            Column("recorded_by", "Recorded by (email)", "text"),
        ]
        statement = self._scoped(
            select(
                ProtocolDeviation.id,
                Subject.subject_code,
                Subject.site_id,
                Arm.code,
                VisitDefinition.code,
                ProtocolDeviation.kind,
                ProtocolDeviation.description,
                ProtocolDeviation.reason,
                ProtocolDeviation.recorded_at,
                User.email,
            )
            .select_from(ProtocolDeviation)
            .join(Subject, Subject.id == ProtocolDeviation.subject_id)
            .outerjoin(Visit, Visit.id == ProtocolDeviation.visit_id)
            .outerjoin(VisitDefinition, VisitDefinition.id == Visit.definition_id)
            .outerjoin(User, User.id == ProtocolDeviation.recorded_by_id)
            .outerjoin(Arm, Arm.id == Subject.arm_id)
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for row in self._stream(statement.order_by(ProtocolDeviation.id)):
                deviation_id, subject, site_id, arm_code, visit_code, kind, description, reason, at, email = row
                if site_id in self.scope.blinded_site_ids and (visit_code is None or not self.visit_shown(site_id, visit_code, arm_code)):
                    continue
                yield (deviation_id, subject, self.site_codes[site_id], *self.arm(site_id, arm_code), visit_code, kind, description, reason, at, email)

        return Dataset("deviations", "Protocol deviations", columns, rows, self._count(statement))


def _grouped(rows: Iterable[Any], key: Callable[[Any], object]) -> Iterator[list[Any]]:
    """Consecutive rows with the same key, as lists (the rows come ordered by it)."""
    group: list[Any] = []
    for row in rows:
        if group and key(group[0]) != key(row):
            yield group
            group = []
        group.append(row)
    if group:
        yield group
