"""CDISC ODM 1.3.2 import: a file's ClinicalData into a study with the same protocol, through the services the pages
use, all or nothing.

`import_odm` resolves the file's OIDs (`ecrf.imports.mapping`: this app's own by default, or a mapping file's), then
takes one SubjectData at a time as one streamed parse validates the file against the ODM 1.3.2 schema
(`ecrf.imports.reading`; after a schema error no subject is taken, and the error makes the report not ok), and writes
it through the ordinary services, in the caller's transaction: `enrol_subject` (the study subject ID as in the file),
`record_allocation`, `record_visit_date` / `mark_missed`, each form checked by its instrument's own form
(`ecrf.imports.checking`, the page's validation) and saved with `save_entry`, `end_participation`. Every refusal (an unknown OID,
a value the form refuses, a date the visit service refuses ...) is collected with its subject, visit, form, item and
value; the caller commits only a report without any (`ImportReport.ok`), and rolls back otherwise, and always on a dry
run. The file's AuditRecords become audit rows of action `imported` with their own time (`values.stamp_instant`: one
that cannot be read is a problem) and user, who is a name tied to no account here (`who`) (`record_history`); the
import's own writes carry `via` "ODM import <file>".

Choices where the issue is silent (the README's "CDISC ODM import" says them for users):

- **A subject already here** (same study subject ID, same study and site) is matched, not enrolled again: what the
  file adds (a visit date, a form) is imported; what is here already must equal the file (else a problem: an import
  never changes recorded data). So a second run of the same file changes nothing, and writes nothing at all.
- **Visit dates** come from each visit's form F.VISIT (`ecrf.exports.odm.VISIT_ITEMS`); a visit dated outside its
  window needs the deviation reason there, as the page needs it.
- **Form status**: drafts come in as drafts, every other status as complete. Source verification, signatures and
  locks are not carried over (a signature is the signer's own act in this system, 21 CFR 11.50/11.70, and locking
  follows both): they are kept as imported history (the signature with its signer, time and meaning), and the
  forms wait here for verification, signature and lock.
- **Plausibility warnings** a complete form's values raise are confirmed by the import (its source accepted the
  values); the report counts them.
- **Derived items** are computed again when the form is saved, never taken from the file; their history is kept.
- **Not imported**: screening records, queries, safety-flag decisions (flags are raised again by the values), the
  randomization list (an imported arm is recorded as allocated elsewhere), "none to report" marks.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from itertools import chain
from pathlib import Path
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import select

from ecrf.access import Action, can
from ecrf.audit.trail import Recorded, acting, record_event, record_history
from ecrf.auth.models import User
from ecrf.auth.services import user_by_email
from ecrf.clock import now_utc
from ecrf.crfs.items import Item, Items
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import entered_values, entry_data, form_context, save_entry
from ecrf.deviations.models import ProtocolDeviation
from ecrf.errors import InvalidInput
from ecrf.exports.odm import IMPORT_VIA, IMPORTED, OUT_OF_WINDOW, SUBJECT_ITEMS, SYSTEM_USER, VISIT_ITEMS
from ecrf.extensions import db
from ecrf.imports.checking import check_entry
from ecrf.imports.mapping import ALLOCATION, ARM, OWN_EVENTS, OWN_FORMS, SUBJECT, VISIT, FormMap, Mapping, load_mapping, own_mapping
from ecrf.imports.reading import AdminDatum, Datum, SchemaCheck, SignatureDatum, Stamp, SubjectDatum, read_odm
from ecrf.imports.values import typed
from ecrf.protocols import protocol_for
from ecrf.protocols.schema import AllocationMethod, Protocol
from ecrf.randomization.services import record_allocation
from ecrf.studies.models import Site, Study, StudySite
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.subjects.services import LEAVING, end_participation, enrol_subject
from ecrf.visits.models import Visit
from ecrf.visits.services import mark_missed, record_visit_date

#: A FormRepeatKey that is a number (ASCII digits only: str.isdigit() takes "²", which int() refuses).
_REPEAT_NUMBER = re.compile(r"[0-9]{1,9}")
#: Form statuses whose marks (verification, signature, lock) stay history: the form comes in complete.
MARKED = ("source-verified", "signed", "verified and signed", "locked")


class ImportRefused(Exception):
    """An import that cannot start: an unknown study, or (in the command) no active user of the `--as` email; the message
    is one line. A user without the right to import a subject's site is no refusal of the whole run: it is a `Problem`
    of each such subject."""


@dataclass(frozen=True)
class Problem:
    """A refusal, where it arose: subject, visit, form, item (here where known, else the file's OIDs), value."""

    subject: str
    visit: str
    form: str
    item: str
    value: str
    message: str

    def line(self) -> str:
        """One line: "DEF-SH01-0001 m1 abi brachial_right = '400': ...", the places that do not apply left out."""
        place = " ".join(part for part in (self.subject, self.visit, self.form, self.item) if part)
        value = f" = {self.value!r}" if self.value else ""
        return f"{place}{value}: {self.message}"


@dataclass
class Unknown:
    """An OID of the file that means nothing here: its kind, the first place it was met, and how often."""

    kind: str
    oid: str
    where: str
    times: int = 1


@dataclass
class ImportReport:
    """What an import found and did (or, on a dry run or with problems, would have done)."""

    file: str
    study: str
    dry_run: bool
    schema: SchemaCheck = field(default_factory=SchemaCheck)
    unknown: dict[tuple[str, str], Unknown] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """Nothing refused: the import may be committed."""
        return not self.schema.problems and not self.unknown and not self.problems

    @property
    def changed(self) -> bool:
        """Something was (or would be) written."""
        return any(self.counts[key] for key in WRITES)

    def summary(self) -> str:
        """The counts in one line."""
        shown = [f"{key}: {self.counts[key]}" for key in (*WRITES, *UNCHANGED, *NOTED) if self.counts[key]]
        return ", ".join(shown) or "nothing"

    def lines(self) -> list[str]:
        """The report for people: every schema error, unknown OID and problem, or what was imported."""
        if self.schema.problems:
            found, stopped = len(self.schema.problems), self.schema.stopped_at
            count = f"{found} errors" if stopped is None else f"{found} errors by line {stopped}, where it was read no further"
            return [f"{self.file}: not valid ODM 1.3.2 ({count}); nothing was imported."] + [
                f"  line {problem.line}: {problem.message}" for problem in self.schema.problems
            ]
        if not self.ok:
            head = f"{self.file}: {len(self.unknown)} unknown OIDs and {len(self.problems)} problems; nothing was imported."
            return (
                [head]
                + [f"  unknown {unknown.kind} {unknown.oid} (first in {unknown.where}; {unknown.times}x)" for unknown in self.unknown.values()]
                + [f"  {problem.line()}" for problem in self.problems]
            )
        head = f"{self.file} into {self.study}{' (dry run: nothing written)' if self.dry_run else ''}"
        if not self.changed:
            return [f"{head}: nothing to import; already here: {self.summary()}."]
        return [f"{head}: {'would import' if self.dry_run else 'imported'} {self.summary()}."]


#: Counts of writes, of what was found already here, and of what the report mentions.
WRITES = ("subjects enrolled", "allocations", "visit dates", "visits missed", "forms", "participations ended", "history records")
UNCHANGED = ("subjects unchanged", "visits unchanged", "forms unchanged")
NOTED = ("warnings confirmed", "form statuses kept as history", "signatures kept as history")


@dataclass(frozen=True)
class Step:
    """One state of an item in the file (codes already mapped), and its AuditRecord."""

    value: str | None
    missing: dict[str, str] | None
    stamp: Stamp | None


@dataclass
class Track:
    """An item's states in the file, the last its current one; where it is (for problems)."""

    steps: list[Step]
    visit: str
    form: str
    item: str

    @property
    def current(self) -> Step:
        return self.steps[-1]


@dataclass
class PlannedForm:
    """One FormData of an instrument, resolved."""

    visit: str
    instrument: str
    repeat_key: str | None
    status: str
    signature: SignatureDatum | None
    tracks: dict[str, Track]
    oid: str


@dataclass
class PlannedSubject:
    """One SubjectData, resolved: its own items, arm, visits' own items, and forms."""

    key: str
    own: dict[str, Track] = field(default_factory=dict)
    arm: Track | None = None
    visits: dict[str, dict[str, Track]] = field(default_factory=dict)
    forms: list[PlannedForm] = field(default_factory=list)


def import_odm(
    path: Path,
    study_code: str,
    user: User,
    *,
    schema: etree.XMLSchema,
    mapping_path: Path | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import an ODM file's ClinicalData into a study, as `user` (a data manager of the sites its subjects are at).
    Flushes, never commits: the caller commits a report that is `ok` (unless a dry run) and rolls back otherwise.
    `ImportRefused` for an unknown study; `ecrf.imports.mapping.MappingError` for a wrong mapping file."""
    study = db.session.scalar(select(Study).where(Study.code == study_code))
    if study is None:
        raise ImportRefused(f"unknown study '{study_code}'")
    report = ImportReport(path.name, study.short_title, dry_run)
    protocol = protocol_for(study.code)
    sites = {site.code: site for site in db.session.scalars(select(Site).join(StudySite, StudySite.site_id == Site.id).where(StudySite.study_id == study.id))}
    if mapping_path is not None:
        emails = set(db.session.scalars(select(User.email)))
        mapping = load_mapping(mapping_path, protocol, set(sites), emails)
    else:
        mapping = own_mapping(study.code, protocol, set(sites))
    importer = _Importer(study, protocol, sites, mapping, user, report, AdminDatum())
    with acting(db.session(), user, via=f"{IMPORT_VIA}{path.name}"[:120]):
        for record in read_odm(path, importer.admin, schema, report.schema):  # none after a schema error, which makes the report not ok
            importer.subject(record)
        if report.ok and report.changed:
            record_event(db.session(), "import", object_type="study", object_id=study.code, new=f"{path.name}: {report.summary()}")
    return report


class _Importer:
    """One run: resolves each SubjectData and writes it through the services, noting every refusal."""

    def __init__(self, study: Study, protocol: Protocol, sites: dict[str, Site], mapping: Mapping, user: User, report: ImportReport, admin: AdminDatum) -> None:
        self.study, self.protocol, self.sites, self.mapping = study, protocol, sites, mapping
        self.user, self.report, self.admin = user, report, admin
        self.ignored = set(mapping.ignore)
        self._people: dict[str, str] = {}

    # -- noting ----------------------------------------------------------------------------------------

    def unknown(self, kind: str, oid: str, where: str) -> None:
        """Note an OID that means nothing here (once per OID, counting how often it is met)."""
        found = self.report.unknown.get((kind, oid))
        if found is None:
            self.report.unknown[(kind, oid)] = Unknown(kind, oid, where)
        else:
            found.times += 1

    def problem(self, subject: str, message: str, *, visit: str = "", form: str = "", item: str = "", value: object = None) -> None:
        """Note a refusal where it arose."""
        self.report.problems.append(Problem(subject, visit, form, item, "" if value is None else str(value), message))

    def refused(self, subject: str, refusal: InvalidInput, *, visit: str = "", form: str = "", items: dict[str, str] | None = None) -> None:
        """A service's refusal, each problem at the item its field names (`items`: field -> item)."""
        for name, message in refusal.problems:
            item = (items or {}).get(name or "", name or "")
            self.problem(subject, message, visit=visit, form=form, item=item)

    # -- resolving -------------------------------------------------------------------------------------

    def subject(self, record: SubjectDatum) -> None:
        """Resolve one SubjectData and import it."""
        if record.study_oid != self.mapping.study_oid:
            self.unknown("StudyOID", record.study_oid, f"SubjectData {record.key} (line {record.line})")
            return
        key = self.mapping.subjects.get(record.key, record.key)
        if record.site is None:
            self.problem(key, "the SubjectData has no SiteRef: the subject's site is not given")
            return
        site_code = self.mapping.sites.get(record.site)
        if site_code is None:
            self.unknown("LocationOID", record.site, f"SubjectData {record.key}")
            return
        site = self.sites[site_code]
        if not can(self.user, Action.IMPORT, self.study.id, site.id):
            self.problem(key, f"{self.user.email} may not import data of {self.study.short_title} at site {site.code} (data managers of the site may)")
            return
        if record.transaction == "Remove":
            self.problem(key, "TransactionType Remove: an import never removes a subject")
            return
        planned = self.resolve(record, key)
        _Subject(self, planned, site).apply()

    def resolve(self, record: SubjectDatum, key: str) -> PlannedSubject:
        """The SubjectData in this study's terms; its unknown OIDs and unmapped codes are noted."""
        planned = PlannedSubject(key)
        for event in record.events:
            if event.oid in self.ignored:
                continue
            visit = self.mapping.events.get(event.oid)
            if visit is None:
                self.unknown("StudyEventOID", event.oid, f"{key}")
                continue
            if event.repeat_key not in (None, "1"):
                self.problem(key, "repeating study events are not imported (a visit happens once)", visit=visit, value=event.repeat_key)
                continue
            for form in event.forms:
                if form.oid in self.ignored:
                    continue
                mapped = self.mapping.forms.get(form.oid)
                if mapped is None:
                    self.unknown("FormOID", form.oid, f"{key} {visit}")
                    continue
                if form.repeated_groups or form.transaction == "Remove":
                    why = "repeated item groups are not imported" if form.repeated_groups else "TransactionType Remove: an import never removes a form"
                    self.problem(key, why, visit=visit, form=mapped.instrument)
                    continue
                tracks = self._tracks(key, visit, form.oid, mapped, form.data)
                for (own, name), track in tracks.items():
                    if own == SUBJECT:
                        planned.own[name] = track
                    elif own == ALLOCATION:
                        planned.arm = track
                    elif own == VISIT:
                        if visit in OWN_EVENTS:
                            self.problem(key, f"a visit's own items belong to a visit's event, not {visit}", visit=visit, form=mapped.instrument, item=name)
                        else:
                            planned.visits.setdefault(visit, {})[name] = track
                if mapped.instrument in OWN_FORMS:
                    continue
                if visit in OWN_EVENTS:
                    self.problem(key, f"form {mapped.instrument} is in event {visit}: instrument forms belong to visits", visit=visit, form=mapped.instrument)
                    continue
                status = self._status(key, visit, mapped.instrument, form.flags)
                if status is None:
                    continue
                if form.signature is not None and form.signature.problem:
                    self.problem(key, f"the Signature's DateTimeStamp cannot be read: {form.signature.problem}", visit=visit, form=mapped.instrument)
                instrument_tracks = {name: track for (own, name), track in tracks.items() if own == mapped.instrument}
                planned.forms.append(PlannedForm(visit, mapped.instrument, form.repeat_key, status, form.signature, instrument_tracks, form.oid))
        return planned

    def _status(self, key: str, visit: str, code: str, flags: tuple[tuple[str, str], ...]) -> str | None:
        statuses = [value for codelist, value in flags if codelist == self.mapping.form_status.codelist]
        if not statuses:
            return self.mapping.form_status.default
        status = self.mapping.form_status.codes.get(statuses[-1])
        if status is None:
            known = ", ".join(self.mapping.form_status.codes)
            self.problem(key, f"form status '{statuses[-1]}' of {self.mapping.form_status.codelist} is not mapped; known: {known}", visit=visit, form=code)
        return status

    def _tracks(self, key: str, visit: str, form_oid: str, mapped: FormMap, data: list[Datum]) -> dict[tuple[str, str], Track]:
        tracks: dict[tuple[str, str], Track] = {}
        for datum in data:
            if datum.oid in self.ignored:
                continue
            name = mapped.items.get(datum.oid)
            if name is None:
                self.unknown("ItemOID", datum.oid, f"{key} {visit} {form_oid}")
                continue
            own, item = mapped.target(name)
            if datum.transaction == "Remove":
                self.problem(key, "TransactionType Remove: an import never removes a value", visit=visit, form=own, item=item)
                continue
            step = Step(self._code(mapped, name, datum), self._missing(key, visit, own, item, datum), datum.stamp)
            if datum.stamp is not None and datum.stamp.problem:
                self.problem(key, f"the AuditRecord's DateTimeStamp cannot be read: {datum.stamp.problem}", visit=visit, form=own, item=item)
            tracks.setdefault((own, item), Track([], visit, own, item)).steps.append(step)
        return tracks

    def _code(self, mapped: FormMap, name: str, datum: Datum) -> str | None:
        """The value with their code mapped to the code here (per item first, then per code list)."""
        if datum.value is None:
            return None
        by_item = mapped.codes.get(name, {})
        if datum.value in by_item:
            return by_item[datum.value]
        return self.mapping.codelists.get(self.admin.codelists.get(datum.oid, ""), {}).get(datum.value, datum.value)

    def _missing(self, key: str, visit: str, form: str, item: str, datum: Datum) -> dict[str, str] | None:
        flags = [value for codelist, value in datum.flags if codelist == self.mapping.missing.codelist]
        if not flags or datum.value is not None:
            return None
        code = self.mapping.missing.codes.get(flags[-1])
        if code is None:
            known = ", ".join(self.mapping.missing.codes)
            self.problem(
                key, f"missing-data code '{flags[-1]}' of {self.mapping.missing.codelist} is not mapped; known: {known}", visit=visit, form=form, item=item
            )
            return None
        return {"code": code, "reason": (datum.comment or "").strip()}

    # -- people -----------------------------------------------------------------------------------------

    def who(self, oid: str) -> str:
        """How the audit trail names the person of a UserOID: the email of the user here the mapping names, or whose
        email is the file's login; someone who is no user here by name. Only a name, as the file says it: an imported
        row is tied to no account here (its user id stays empty) and is marked as imported (action `imported`, `via`
        the file), though it shows that email as text, and an ODM export names it as that user (USR.<email>)."""
        if oid not in self._people:
            login, full = self.admin.users.get(oid, (None, None))
            email = self.mapping.users.get(oid) or login
            found = user_by_email(email) if email else None
            if found is not None:
                self._people[oid] = found.email
            elif oid in ("", SYSTEM_USER):
                self._people[oid] = "system"
            else:
                named = " ".join(part for part in (full, f"<{login}>" if login else None) if part) or oid
                self._people[oid] = f"{named} ({oid}, not a user here)"[:254]
        return self._people[oid]

    def history(
        self,
        tracks: dict[str, Track],
        subject_id: int,
        row: Callable[[str], tuple[str, object, str]],
        text: Callable[[str, str | None], object],
        *,
        missing_of: object = None,
    ) -> None:
        """Imported audit rows for the stamped steps of `tracks`, in time order across items and within each (a foreign
        file need not list an item's ItemData in time order; equal times keep the file's order): the value rows on the
        object `row(name)` gives (table, id, column), and, with `missing_of` (an entry's id), each change of a
        missing-data code as the entry's whole `missing` after it (as the trail records a save). A row's old value is
        the item's ItemData before it in the file (ODM's order of transactions). A step whose DateTimeStamp cannot be read
        has no row: it is a problem, noted, and nothing is imported."""
        stamped = chain.from_iterable(
            ((step.stamp.at, name, number, step) for number, step in enumerate(track.steps) if step.stamp is not None and step.stamp.at is not None)
            for name, track in tracks.items()
        )
        missing: dict[str, dict[str, str]] = {}
        changes: list[Recorded] = []
        for at, name, number, step in sorted(stamped, key=lambda found: found[0]):
            assert step.stamp is not None
            before = tracks[name].steps[number - 1] if number else Step(None, None, None)
            user_name = self.who(step.stamp.user)
            value_changed = step.value != before.value or (number == 0 and step.value is not None)
            missing_changed = step.missing != before.missing
            table, object_id, column = row(name)
            if value_changed or not missing_changed or missing_of is None:
                changes.append(
                    Recorded(at, None, user_name, table, object_id, subject_id, column, text(name, before.value), text(name, step.value), step.stamp.reason)
                )
            if missing_changed and missing_of is not None:
                old = dict(missing)
                if step.missing is None:
                    missing.pop(name, None)
                else:
                    missing[name] = step.missing
                changes.append(Recorded(at, None, user_name, "crf_entries", missing_of, subject_id, "missing", old, dict(missing), step.stamp.reason))
        record_history(db.session(), IMPORTED, changes)
        self.report.counts["history records"] += len(changes)


def _history_text(item: Item, value: str | None, timezone: str) -> object:
    """An item's value in the file as the audit trail writes it (as stored; a text that is not one kept as it is)."""
    if value is None:
        return None
    try:
        return typed(item.kind, value, timezone)
    except ValueError:
        return value


class _Subject:
    """The import of one resolved subject."""

    def __init__(self, run: _Importer, planned: PlannedSubject, site: Site) -> None:
        self.run, self.planned, self.site, self.key = run, planned, site, planned.key
        self.timezone = site.timezone
        self.created = False

    def problem(self, message: str, **where) -> None:
        """Note a refusal about this subject."""
        self.run.problem(self.key, message, **where)

    def texts(self, items: Items) -> Callable[[str, str | None], object]:
        """The audit trail's text of a value in the file of one of `items` (by name), at this subject's site."""
        return lambda name, value: _history_text(items[name], value, self.timezone)

    def own_value(self, declared: Item, tracks: dict[str, Track]) -> tuple[bool, object]:
        """(given, typed value) of a subject's or visit's own item; a value that is not one is a problem."""
        name = declared.name
        track = tracks.get(name)
        if track is None or track.current.value is None:
            return False, None
        try:
            return True, typed(declared.kind, track.current.value, self.timezone)
        except ValueError as error:
            self.problem(f"not a valid {declared.label.lower()}: {error}", visit=track.visit, form=track.form, item=name, value=track.current.value)
            return True, None

    def apply(self) -> None:
        """Enrol (or match) the subject, then its arm, visits, forms and participation, then its history."""
        run = self.run
        subject = db.session.scalar(select(Subject).where(Subject.subject_code == self.key))
        if subject is not None and (subject.study_id != run.study.id or subject.site_id != self.site.id):
            self.problem(f"{self.key} is a subject of {subject.study.short_title} at site {subject.site.code} here, not of this study at {self.site.code}")
            return
        if subject is None:
            subject = self.enrol()
            if subject is None:
                return
            self.created = True
            run.report.counts["subjects enrolled"] += 1
        elif self.same_subject(subject):
            run.report.counts["subjects unchanged"] += 1
        self.allocate(subject)
        visits = {visit.definition.code: visit for visit in subject.visits}
        for code, tracks in self.planned.visits.items():
            if code not in visits:
                self.problem(f"{self.key} has no visit {code} here", visit=code)
            else:
                self.visit(subject, visits[code], tracks)
        self.forms(subject, visits)
        self.participation(subject)
        if self.created:
            self.subject_history(subject)

    # -- the subject ----------------------------------------------------------------------------------

    @cached_property
    def own(self) -> dict[str, object]:
        """The subject's own items, typed (each refused value noted once)."""
        return {item.name: self.own_value(item, self.planned.own)[1] for item in SUBJECT_ITEMS}

    def enrol(self) -> Subject | None:
        """Enrol the subject with the file's study subject ID, dates and (for a chosen arm) arm."""
        own = self.own
        index_date, consent_date, index_at = own["index_date"], own["consent_date"], own["index_at"]
        missing = [name for name, value in (("consent_date", consent_date), ("index_date", index_date)) if value is None]
        for name in missing:
            self.problem("required to enrol the subject; the file does not give it", form=SUBJECT, item=name)
        if missing:
            return None
        assert isinstance(index_date, date) and isinstance(consent_date, date)
        index_time = None
        if isinstance(index_at, datetime):
            local = index_at.astimezone(ZoneInfo(self.timezone))
            if local.date() != index_date:
                self.problem(
                    f"the index instant is on {local.date().isoformat()} at the site, not on the index date {index_date.isoformat()}",
                    form=SUBJECT,
                    item="index_at",
                )
                return None
            index_time = local.time()
        method = self.run.protocol.allocation.method
        arm = self.arm_code()
        try:
            return enrol_subject(
                self.run.study,
                self.site,
                index_date=index_date,
                consent_date=consent_date,
                arm_code=arm if method is AllocationMethod.CHOSEN else None,
                index_time=index_time,
                by=self.run.user,
                subject_code=self.key,
            )
        except InvalidInput as refused:
            self.run.refused(self.key, refused, form=SUBJECT, items={"index_time": "index_at", "arm": ARM, "subject_code": "SubjectKey"})
            self.problem("its visits and forms are not checked: the subject could not be enrolled")
            return None

    def arm_code(self) -> str | None:
        """The file's current arm code, if it gives one."""
        arm = self.planned.arm
        return arm.current.value if arm is not None else None

    def same_subject(self, subject: Subject) -> bool:
        """A subject already here: the file's dates must be its own."""
        own = self.own
        same = True
        for name in ("consent_date", "index_date"):
            if own[name] is not None and own[name] != getattr(subject, name):
                self.problem(f"{self.key} is here with {name} {getattr(subject, name)}; an import never changes it", form=SUBJECT, item=name, value=own[name])
                same = False
        return same

    def allocate(self, subject: Subject) -> None:
        """The file's arm: recorded for a randomized study's subject without one; otherwise it must be the subject's."""
        arm = self.arm_code()
        if arm is None:
            return
        if subject.arm is not None:
            if subject.arm.code != arm:
                self.problem(f"{self.key} is in arm {subject.arm.code} here", form=ALLOCATION, item=ARM, value=arm)
            return
        if self.run.protocol.allocation.method is not AllocationMethod.RANDOMIZED:
            return  # a chosen arm was refused at enrolment, and said so
        stamps = [step.stamp.at for step in self.planned.arm.steps if step.stamp and step.stamp.at] if self.planned.arm else []
        try:
            record_allocation(subject, arm, at=stamps[-1] if stamps else None)
        except InvalidInput as refused:
            self.run.refused(self.key, refused, form=ALLOCATION, items={"arm": ARM})
            return
        self.run.report.counts["allocations"] += 1
        if not self.created and self.planned.arm is not None:
            self.run.history({ARM: self.planned.arm}, subject.id, lambda name: ("subjects", subject.id, "arm_id"), self._arm_text(subject))

    def _arm_text(self, subject: Subject) -> Callable[[str, str | None], object]:
        arms = {arm.code: arm.id for arm in subject.study.arms}
        return lambda name, value: arms.get(value, value) if value is not None else None

    def subject_history(self, subject: Subject) -> None:
        """The file's history of the subject's own items and arm, for a subject this run enrolled."""
        self.run.history(self.planned.own, subject.id, lambda name: ("subjects", subject.id, name), self.texts(SUBJECT_ITEMS))
        if self.planned.arm is not None:
            self.run.history({ARM: self.planned.arm}, subject.id, lambda name: ("subjects", subject.id, "arm_id"), self._arm_text(subject))

    def participation(self, subject: Subject) -> None:
        """The file's participation status: a subject who left is ended here too; completed follows the visits."""
        own = self.own
        status = own["status"]
        if status is None:
            return
        try:
            status = SubjectStatus(str(status))
        except ValueError:
            self.problem(f"not a participation status; one of {', '.join(s.value for s in SubjectStatus)}", form=SUBJECT, item="status", value=status)
            return
        if status is subject.status:
            return
        if status in LEAVING and subject.status is SubjectStatus.ACTIVE:
            on, reason = own["status_date"], own["status_reason"]
            if not isinstance(on, date):
                self.problem("required for a subject who left the study", form=SUBJECT, item="status_date")
                return
            try:
                end_participation(subject, status, on, str(reason or ""), by=self.run.user)
            except InvalidInput as refused:
                self.run.refused(self.key, refused, form=SUBJECT, items={"status_date": "status_date", "reason": "status_reason"})
                return
            self.run.report.counts["participations ended"] += 1
            return
        self.problem(f"{self.key} is {subject.status.label} here (after the file's visits)", form=SUBJECT, item="status", value=status.value)

    # -- visits ----------------------------------------------------------------------------------------

    def visit(self, subject: Subject, visit: Visit, tracks: dict[str, Track]) -> None:
        """The visit's date (with its deviation reason) or missed mark, unless the visit already has the same."""
        code = visit.definition.code
        values = {item.name: self.own_value(item, tracks)[1] for item in VISIT_ITEMS}
        day, missed = values["visit_date"], values["missed"] is True
        new = False
        try:
            if missed:
                if not visit.missed:
                    if visit.visit_date is not None:
                        self.problem(f"dated {visit.visit_date.isoformat()} here", visit=code, form=VISIT, item="missed", value="true")
                        return
                    mark_missed(visit, str(values["missed_reason"] or ""), by=self.run.user)
                    new = True
            elif isinstance(day, date) and (visit.visit_date != day or visit.missed):
                if visit.visit_date is not None or visit.missed:
                    here = "missed" if visit.missed else f"dated {visit.visit_date.isoformat() if visit.visit_date else ''}"
                    self.problem(f"{here} here; an import never changes it", visit=code, form=VISIT, item="visit_date", value=day.isoformat())
                    return
                record_visit_date(visit, day, by=self.run.user, deviation_reason=str(values["deviation_reason"] or "") or None)
                new = True
        except InvalidInput as refused:
            fields = {"visit_date": "visit_date", "deviation_reason": "deviation_reason", "missed_reason": "missed_reason", "reason_for_change": "visit_date"}
            self.run.refused(self.key, refused, visit=code, form=VISIT, items=fields)
            return
        counts = self.run.report.counts
        counts["visits missed" if missed else "visit dates"] += new
        counts["visits unchanged"] += not new and not self.created
        if new or self.created:
            self.visit_history(subject, visit, tracks)

    def visit_history(self, subject: Subject, visit: Visit, tracks: dict[str, Track]) -> None:
        """The file's history of a visit's own items (the deviation reason's on the visit's out-of-window deviation)."""
        deviation = db.session.scalar(
            select(ProtocolDeviation.id)
            .where(ProtocolDeviation.visit_id == visit.id, ProtocolDeviation.kind == OUT_OF_WINDOW)
            .order_by(ProtocolDeviation.id.desc())
            .limit(1)
        )

        def row(name: str) -> tuple[str, object, str]:
            if name == "deviation_reason":
                return ("protocol_deviations", deviation, "reason")
            return ("visits", visit.id, name)

        kept = {name: track for name, track in tracks.items() if name != "deviation_reason" or deviation is not None}
        self.run.history(kept, subject.id, row, self.texts(VISIT_ITEMS))

    # -- forms -----------------------------------------------------------------------------------------

    def forms(self, subject: Subject, visits: dict[str, Visit]) -> None:
        """Each form, numbered per visit and instrument (a repeating one in FormRepeatKey order when every key is a
        number, else in the file's order), checked by its instrument's form and saved, unless the same entry is here
        already."""
        groups: dict[tuple[str, str], list[PlannedForm]] = {}
        for form in self.planned.forms:
            groups.setdefault((form.visit, form.instrument), []).append(form)
        for (code, name), forms in groups.items():
            visit = visits.get(code)
            if visit is None:
                self.problem(f"{self.key} has no visit {code} here", visit=code, form=name)
                continue
            arm = subject.arm.code if subject.arm else None
            if name not in self.run.protocol.visit(code).instruments_for(arm):
                self.problem(f"{name} is not a form of visit {code}{f' for arm {arm}' if arm else ''} in {self.run.study.short_title}", visit=code, form=name)
                continue
            item = instrument(name)
            if not item.repeating and len(forms) > 1:
                self.problem(f"{len(forms)} forms {name} at one visit; it is entered once per visit", visit=code, form=name)
                continue
            if all(_REPEAT_NUMBER.fullmatch(form.repeat_key or "") for form in forms):
                forms = sorted(forms, key=lambda form: int(form.repeat_key or 0))
            for sequence, form in enumerate(forms, 1):
                self.form(subject, visit, form, sequence)

    def form(self, subject: Subject, visit: Visit, form: PlannedForm, sequence: int) -> None:
        """One form: checked by its instrument's form, then saved with its history, or compared with the entry here."""
        run, item = self.run, instrument(form.instrument)
        code = visit.definition.code
        entered_names = set(item.items.entered_names())
        values = {name: track.current.value for name, track in form.tracks.items() if name in entered_names and track.current.value is not None}
        missing = {name: track.current.missing for name, track in form.tracks.items() if name in entered_names and track.current.missing}
        complete = form.status != "draft"
        checked = check_entry(item, form_context(subject, visit), values, missing, complete=complete, by=run.user)
        label = f"{form.instrument}{f' #{sequence}' if item.repeating else ''}"
        if checked.entered is None:
            for name, message in checked.problems:
                shown = values.get(name or "") or (missing.get(name or "") or {}).get("code")
                self.problem(message, visit=code, form=label, item=name or "", value=shown)
            return
        existing = db.session.scalar(
            select(CrfEntry).where(
                CrfEntry.visit_id == visit.id, CrfEntry.instrument == item.code, CrfEntry.sequence == sequence, CrfEntry.none_reported.is_(False)
            )
        )
        if existing is not None:
            self.same_entry(existing, checked.entered.values, checked.entered.missing, complete, code, label)
            return
        try:
            entry = save_entry(visit, item, checked.entered, entry=None)
        except InvalidInput as refused:
            self.run.refused(self.key, refused, visit=code, form=label)
            return
        counts = run.report.counts
        counts["forms"] += 1
        counts["warnings confirmed"] += len(checked.confirmed)
        table = item.model.__tablename__
        run.history(form.tracks, subject.id, lambda name: (table, entry.id, name), self.texts(item.items), missing_of=entry.id)
        self.form_marks(subject, entry, form)

    def same_entry(self, entry: CrfEntry, values: dict[str, object], missing: dict[str, dict[str, str]], complete: bool, code: str, label: str) -> None:
        """An entry already here must hold what the file gives: values, missing-data codes, draft or not."""
        item = instrument(entry.instrument)
        stored = entered_values(item, entry_data(item, entry))
        differs = [(name, stored.get(name), value) for name, value in values.items() if stored.get(name) != value]
        differs += [(name, (entry.missing or {}).get(name), given) for name, given in missing.items() if (entry.missing or {}).get(name) != given]
        differs += [(name, (entry.missing or {}).get(name), None) for name in entry.missing or {} if name not in missing and name in values]
        for name, here, given in differs:
            self.problem(f"{label} is here with {here!r}; an import never changes recorded data", visit=code, form=label, item=name, value=given)
        if (entry.status is EntryStatus.DRAFT) == complete:
            self.problem(f"{label} is {entry.state} here", visit=code, form=label, value="complete" if complete else "draft")
        elif not differs:
            self.run.report.counts["forms unchanged"] += 1

    def form_marks(self, subject: Subject, entry: CrfEntry, form: PlannedForm) -> None:
        """A form's verification, signature or lock in the file: kept as imported history, not carried over."""
        run = self.run
        changes = []
        if form.status in MARKED:
            reason = f"form status in {run.report.file}; verification, signature and lock are not carried over: verify, sign and lock here"
            changes.append(Recorded(now_utc(), run.user.id, run.user.email, "crf_entries", entry.id, subject.id, "status", None, form.status, reason))
            run.report.counts["form statuses kept as history"] += 1
        if form.signature is not None and form.signature.at is not None:  # else a problem, noted: nothing is imported
            user_name = run.who(form.signature.user)
            changes.append(Recorded(form.signature.at, None, user_name, "crf_entries", entry.id, subject.id, "signature", None, form.signature.meaning, None))
            run.report.counts["signatures kept as history"] += 1
        record_history(db.session(), IMPORTED, changes)
        run.report.counts["history records"] += len(changes)
