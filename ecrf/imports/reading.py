"""Reading an ODM 1.3.2 file in one streamed parse (`lxml.etree.iterparse`, each subject's elements freed once read),
validated against the official schema as it is read: its ClinicalData one SubjectData at a time, with the AdminData's
users and signature meanings and the code lists the metadata's items use, and every place the file breaks the schema
with its line. So memory holds one subject at a time, not all of them; what is not freed stays in the parsed tree to
the end: the metadata (Study, AdminData), any ReferenceData, and the ClinicalData-level AuditRecords, Signatures and
Annotations (none of them imported)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from ecrf.exports.odm import NS
from ecrf.imports.values import stamp_instant

SCHEMA_FILE = "ODM1-3-2.xsd"
_ = f"{{{NS}}}"


class SchemaMissing(Exception):
    """The ODM 1.3.2 schema is not where the configuration says."""


@dataclass(frozen=True)
class SchemaProblem:
    """Where the file breaks the schema (or is not XML at all)."""

    line: int
    message: str


@dataclass
class SchemaCheck:
    """What a file's streamed validation found: each place it breaks the schema (or is not well-formed XML), and the
    line it was read no further than, after `MOST_PROBLEMS` errors."""

    problems: list[SchemaProblem] = field(default_factory=list)
    stopped_at: int | None = None


@dataclass(frozen=True)
class Stamp:
    """An AuditRecord: who (UserOID), when, why; `problem` says why its DateTimeStamp cannot be read (`at` is then
    None, and the import lists the problem: history is never dropped silently)."""

    user: str
    at: datetime | None
    reason: str | None
    problem: str | None = None


@dataclass(frozen=True)
class Datum:
    """One ItemData: a value, or none (IsNull) with annotation flags (code list, value) and a comment."""

    oid: str
    value: str | None
    flags: tuple[tuple[str, str], ...]
    comment: str | None
    transaction: str | None
    stamp: Stamp | None


@dataclass(frozen=True)
class SignatureDatum:
    """A form's Signature: who, what it means, when (`problem` as a `Stamp`'s)."""

    user: str
    meaning: str
    at: datetime | None
    problem: str | None = None


@dataclass
class FormDatum:
    oid: str
    repeat_key: str | None
    transaction: str | None
    #: Annotation flags of the form (code list, value): its status.
    flags: tuple[tuple[str, str], ...]
    signature: SignatureDatum | None
    #: Every ItemData of the form, in the file's order (an item's history, then its current state).
    data: list[Datum] = field(default_factory=list)
    #: Item groups repeated in the form (IGRepeatKey): not imported.
    repeated_groups: bool = False


@dataclass
class EventDatum:
    oid: str
    repeat_key: str | None
    forms: list[FormDatum]


@dataclass
class SubjectDatum:
    """One SubjectData, with the StudyOID of its ClinicalData and its line in the file."""

    study_oid: str
    key: str
    site: str | None
    transaction: str | None
    events: list[EventDatum]
    line: int


@dataclass
class AdminDatum:
    """Who the file's UserOIDs are (login, full name) and what its SignatureOIDs mean; the code list of each item."""

    users: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    meanings: dict[str, str] = field(default_factory=dict)
    codelists: dict[str, str] = field(default_factory=dict)


@cache
def load_schema(directory: Path) -> etree.XMLSchema:
    """The ODM 1.3.2 schema in `directory` (read once per process)."""
    path = directory / SCHEMA_FILE
    if not path.is_file():
        raise SchemaMissing(f"the ODM 1.3.2 schema is not at {path}; set ECRF_ODM_SCHEMA_DIR to the folder holding {SCHEMA_FILE}")
    return etree.XMLSchema(etree.parse(str(path)))


#: At most this much of the file is given to the parser at once (a line, or this much of a longer one).
_PIECE = 1 << 16
#: After this many schema errors the file is read no further.
MOST_PROBLEMS = 100


class _Lines:
    """The file as the parser reads it, a line at a time, so that a schema error found while streaming is noted at
    its line (libxml2's streamed validation gives none): after each line, the errors the parser found in it."""

    def __init__(self, file: BinaryIO, problems: list[SchemaProblem]) -> None:
        self.file, self.problems = file, problems
        #: The line of the piece the parser read last; whether that piece ended its line.
        self.line, self._ended = 1, False
        self._seen = 0
        self.log: Callable[[], etree._ListErrorLog] | None = None
        #: Whether the parser was given no more of the file: it has `MOST_PROBLEMS` errors.
        self.stopped = False

    def read(self, size: int = -1) -> bytes:
        """The next line (or piece of a long one), once the errors of the one before are noted; nothing (the end)
        once there are `MOST_PROBLEMS`."""
        self.note()
        if len(self.problems) >= MOST_PROBLEMS:
            self.stopped = True
            return b""
        self.line += self._ended
        piece = self.file.readline(_PIECE)
        self._ended = piece.endswith(b"\n")
        return piece

    def note(self) -> None:
        """Note the errors the parser found since the last look, at the line it was reading."""
        log = self.log() if self.log is not None else []
        if len(log) > self._seen:
            self.problems += [SchemaProblem(self.line, entry.message) for entry in list(log)[self._seen :] if entry.level >= etree.ErrorLevels.ERROR]
            self._seen = len(log)


def _flags(annotated: etree._Element) -> tuple[tuple[str, str], ...]:
    return tuple((flag.get("CodeListOID") or "", (flag.text or "").strip()) for flag in annotated.iterfind(f"{_}Annotation/{_}Flag/{_}FlagValue"))


def _stamp(element: etree._Element) -> Stamp | None:
    record = element.find(f"{_}AuditRecord")
    if record is None:
        return None
    user = record.find(f"{_}UserRef")
    at, problem = _instant(record.findtext(f"{_}DateTimeStamp"))
    return Stamp(user.get("UserOID", "") if user is not None else "", at, record.findtext(f"{_}ReasonForChange"), problem)


def _instant(text: str | None) -> tuple[datetime | None, str | None]:
    """A DateTimeStamp read (`stamp_instant`): (instant, None), or (None, why it cannot be read)."""
    try:
        return stamp_instant(text), None
    except ValueError as error:
        return None, str(error)


def _form(element: etree._Element, meanings: dict[str, str]) -> FormDatum:
    signed = element.find(f"{_}Signature")
    signature = None
    if signed is not None:
        user, ref = signed.find(f"{_}UserRef"), signed.find(f"{_}SignatureRef")
        oid = ref.get("SignatureOID", "") if ref is not None else ""
        at, problem = _instant(signed.findtext(f"{_}DateTimeStamp"))
        signature = SignatureDatum(user.get("UserOID", "") if user is not None else "", meanings.get(oid, oid), at, problem)
    form = FormDatum(element.get("FormOID", ""), element.get("FormRepeatKey"), element.get("TransactionType"), _flags(element), signature)
    for group in element.iterfind(f"{_}ItemGroupData"):
        form.repeated_groups |= group.get("ItemGroupRepeatKey") not in (None, "1")
        for item in group.iterfind(f"{_}ItemData"):
            comment = item.findtext(f"{_}Annotation/{_}Comment")
            form.data.append(Datum(item.get("ItemOID", ""), item.get("Value"), _flags(item), comment, item.get("TransactionType"), _stamp(item)))
    return form


def read_odm(path: Path, admin: AdminDatum, schema: etree.XMLSchema, check: SchemaCheck) -> Iterator[SubjectDatum]:
    """The file's SubjectData, one at a time, validated against `schema` as they are read (one streamed parse; each
    subject's elements freed once read). Each place the file breaks the schema, or where it is not well-formed XML, is
    noted in `check` with its line; from the first on no SubjectData is given (the rest is read for its errors, up to
    `MOST_PROBLEMS`). `admin` is filled with the users, signature meanings and item code lists as they are read (they
    come first)."""
    tags = [f"{_}{tag}" for tag in ("User", "SignatureDef", "ItemDef", "SubjectData")]
    problems = check.problems
    try:
        file = path.open("rb")
    except OSError as error:
        problems.append(SchemaProblem(0, f"cannot be read: {error}"))
        return
    with file:
        lines = _Lines(file, problems)
        parsing = etree.iterparse(lines, events=("end",), tag=tags, schema=schema, resolve_entities=False, no_network=True)
        lines.log = lambda: parsing.error_log
        try:
            for _event, element in parsing:
                lines.note()
                record = _read(element, admin) if not problems else None
                _free(element)
                if record is not None:
                    yield record
        except etree.XMLSyntaxError as error:  # at the end: not valid; or the parse stopped where it is not well-formed
            lines.note()
            broken = None if lines.stopped else _not_well_formed(path)
            if broken is not None:
                problems[:] = [broken]
            elif error.msg not in {problem.message for problem in problems} and not lines.stopped:
                problems.append(SchemaProblem(error.lineno or lines.line, error.msg))
        lines.note()
        if lines.stopped:
            del problems[MOST_PROBLEMS:]
            check.stopped_at = lines.line


def _not_well_formed(path: Path) -> SchemaProblem | None:
    """Where the file is not well-formed XML (streamed again without the schema, whose messages would hide it), or None."""
    try:
        for _event, element in etree.iterparse(str(path), events=("end",), resolve_entities=False, no_network=True):
            element.clear()
            parent = element.getparent()
            while parent is not None and element.getprevious() is not None:
                del parent[0]
    except etree.XMLSyntaxError as error:
        return SchemaProblem(error.lineno or 0, error.msg)
    return None


def _free(element: etree._Element) -> None:
    """A subject's elements once read, and the subjects read before it."""
    if etree.QName(element).localname == "SubjectData":
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]


def _read(element: etree._Element, admin: AdminDatum) -> SubjectDatum | None:
    """A User, SignatureDef or ItemDef noted in `admin`, or a SubjectData read."""
    tag = etree.QName(element).localname
    if tag == "User":
        full = element.findtext(f"{_}FullName") or " ".join(filter(None, (element.findtext(f"{_}FirstName"), element.findtext(f"{_}LastName")))) or None
        admin.users[element.get("OID", "")] = (element.findtext(f"{_}LoginName"), full)
        return None
    if tag == "SignatureDef":
        admin.meanings[element.get("OID", "")] = element.findtext(f"{_}Meaning") or element.get("OID", "")
        return None
    if tag == "ItemDef":
        ref = element.find(f"{_}CodeListRef")
        if ref is not None:
            admin.codelists[element.get("OID", "")] = ref.get("CodeListOID", "")
        return None
    parent = element.getparent()
    site = element.find(f"{_}SiteRef")
    events = [
        EventDatum(event.get("StudyEventOID", ""), event.get("StudyEventRepeatKey"), [_form(form, admin.meanings) for form in event.iterfind(f"{_}FormData")])
        for event in element.iterfind(f"{_}StudyEventData")
    ]
    return SubjectDatum(
        parent.get("StudyOID", "") if parent is not None else "",
        element.get("SubjectKey", ""),
        site.get("LocationOID") if site is not None else None,
        element.get("TransactionType"),
        events,
        element.sourceline or 0,
    )
