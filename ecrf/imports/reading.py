"""Reading an ODM 1.3.2 file: validated against the official schema first, then its ClinicalData read one SubjectData
at a time (`lxml.etree.iterparse`, each subject's elements freed once read), with the AdminData's users and
signature meanings and the code lists the metadata's items use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path

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


@dataclass(frozen=True)
class Stamp:
    """An AuditRecord: who (UserOID), when, why."""

    user: str
    at: datetime | None
    reason: str | None


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
    user: str
    meaning: str
    at: datetime | None


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


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True)


def schema_problems(path: Path, schema: etree.XMLSchema) -> list[SchemaProblem]:
    """Every place the file breaks the schema (the first, where it is not well-formed XML); empty when it is valid."""
    try:
        tree = etree.parse(str(path), _parser())
    except etree.XMLSyntaxError as error:
        return [SchemaProblem(error.lineno or 0, error.msg)]
    except OSError as error:
        return [SchemaProblem(0, f"cannot be read: {error}")]
    if schema.validate(tree):
        return []
    return [SchemaProblem(entry.line, entry.message) for entry in schema.error_log]


def _flags(annotated: etree._Element) -> tuple[tuple[str, str], ...]:
    return tuple((flag.get("CodeListOID") or "", (flag.text or "").strip()) for flag in annotated.iterfind(f"{_}Annotation/{_}Flag/{_}FlagValue"))


def _stamp(element: etree._Element) -> Stamp | None:
    record = element.find(f"{_}AuditRecord")
    if record is None:
        return None
    user = record.find(f"{_}UserRef")
    return Stamp(
        user.get("UserOID", "") if user is not None else "", stamp_instant(record.findtext(f"{_}DateTimeStamp")), record.findtext(f"{_}ReasonForChange")
    )


def _form(element: etree._Element, meanings: dict[str, str]) -> FormDatum:
    signed = element.find(f"{_}Signature")
    signature = None
    if signed is not None:
        user, ref = signed.find(f"{_}UserRef"), signed.find(f"{_}SignatureRef")
        oid = ref.get("SignatureOID", "") if ref is not None else ""
        signature = SignatureDatum(
            user.get("UserOID", "") if user is not None else "", meanings.get(oid, oid), stamp_instant(signed.findtext(f"{_}DateTimeStamp"))
        )
    form = FormDatum(element.get("FormOID", ""), element.get("FormRepeatKey"), element.get("TransactionType"), _flags(element), signature)
    for group in element.iterfind(f"{_}ItemGroupData"):
        form.repeated_groups |= group.get("ItemGroupRepeatKey") not in (None, "1")
        for item in group.iterfind(f"{_}ItemData"):
            comment = item.findtext(f"{_}Annotation/{_}Comment")
            form.data.append(Datum(item.get("ItemOID", ""), item.get("Value"), _flags(item), comment, item.get("TransactionType"), _stamp(item)))
    return form


def read_odm(path: Path, admin: AdminDatum) -> Iterator[SubjectDatum]:
    """The file's SubjectData, one at a time; `admin` is filled with the users, signature meanings and item code lists
    as they are read (they come before the ClinicalData)."""
    tags = [f"{_}{tag}" for tag in ("User", "SignatureDef", "ItemDef", "SubjectData")]
    for _event, element in etree.iterparse(str(path), events=("end",), tag=tags, resolve_entities=False, no_network=True):
        tag = etree.QName(element).localname
        if tag == "User":
            full = element.findtext(f"{_}FullName") or " ".join(filter(None, (element.findtext(f"{_}FirstName"), element.findtext(f"{_}LastName")))) or None
            admin.users[element.get("OID", "")] = (element.findtext(f"{_}LoginName"), full)
        elif tag == "SignatureDef":
            admin.meanings[element.get("OID", "")] = element.findtext(f"{_}Meaning") or element.get("OID", "")
        elif tag == "ItemDef":
            ref = element.find(f"{_}CodeListRef")
            if ref is not None:
                admin.codelists[element.get("OID", "")] = ref.get("CodeListOID", "")
        else:
            parent = element.getparent()
            site = element.find(f"{_}SiteRef")
            events = [
                EventDatum(
                    event.get("StudyEventOID", ""), event.get("StudyEventRepeatKey"), [_form(form, admin.meanings) for form in event.iterfind(f"{_}FormData")]
                )
                for event in element.iterfind(f"{_}StudyEventData")
            ]
            yield SubjectDatum(
                parent.get("StudyOID", "") if parent is not None else "",
                element.get("SubjectKey", ""),
                site.get("LocationOID") if site is not None else None,
                element.get("TransactionType"),
                events,
                element.sourceline or 0,
            )
            element.clear()
            while element.getprevious() is not None:  # the subjects read before: freed
                del element.getparent()[0]
