"""CDISC ODM 1.3.2 export: AdminData, the study's MetaDataVersion and its ClinicalData with audit records.

One XML file (namespace http://www.cdisc.org/ns/odm/v1.3, ODMVersion 1.3.2), in this order:

- `Study`: GlobalVariables, BasicDefinitions (a MeasurementUnit per unit the items use) and one MetaDataVersion
  made from the loaded protocol and the instrument descriptions (`ecrf.crfs.registry.instrument(code).items`):
  a StudyEventDef per visit that has a form in the scope, a FormDef, an ItemGroupDef (one per form, same code) and
  an ItemDef per item (DataType, Question, MeasurementUnitRef, RangeCheck, CodeListRef; derived items name a
  MethodDef of type Computation), the CodeLists, and two CodeLists for annotations: missing-data codes
  (`CL.MISSING`) and form status (`CL.FORMSTATUS`).
- `AdminData`: the users by role (those with a membership at an exported site, then anyone the exported audit
  records or signatures name, and `USR.system` for changes made by commands), the sites as Locations and the
  signature meanings as SignatureDefs.
- `ClinicalData`: streamed one SubjectData at a time (`lxml.etree.xmlfile`), read in keyset-paged chunks of
  subjects with plain row queries, so memory does not grow with the study.

Choices where ODM or the issue is silent:

- **History** (FileType "Transactional"): an item's earlier values are ItemData of the same ItemOID before its
  current one, in time order, the first with TransactionType "Insert", the later ones "Update"; each carries an
  AuditRecord (user, the subject's site as location, UTC date-time, reason for change) from the audit trail. The
  last ItemData of an ItemOID is the current value, taken from the database. A value change and a missing-code
  change of the same save (same user, within 2 s) are one step. `snapshot=True` (FileType "Snapshot") writes the
  current values only, without TransactionType or AuditRecord.
- **Missing-data codes**: ItemData with IsNull="Yes" (no Value) and an Annotation whose Flag has the code as
  FlagValue in CodeList `CL.MISSING` (not_done, unknown, not_applicable) and the reason as Comment: plain ODM
  1.3.2, no vendor extension. An item never answered and without a code has no ItemData.
- **Form status** (draft, complete, source-verified, signed, verified and signed, locked): an Annotation of the
  FormData, Flag in CodeList `CL.FORMSTATUS`. The valid investigator signature is the FormData's Signature
  (voided ones are in the audit trail, not here). "None to report" marks of list forms carry no data: left out.
- **Yes/no and tick items** are DataType "boolean" with values "true"/"false" (ODM CodeLists cannot be boolean).
- **The arm**: ODM 1.3.2 has no arm element. Where the scope shows the arm at some site, a common study event
  `SE.ALLOCATION` holds form `F.ALLOCATION` with item `I.ALLOCATION.ARM` (CodeList of the arms), written only for
  subjects of the sites where the arm is shown; otherwise none of these, nor any arm code, is in the file. A
  blinded assessor's scope holds only their visits and forms (`Scope.instruments`), in metadata and data.
- **The subject's and the visits' own data** (ODM 1.3.2 has no element for them either), as plain ODM items so that
  an import (`ecrf.imports`) can enrol the subject and date its visits again: a common study event `SE.SUBJECT`
  with form `F.SUBJECT` (`SUBJECT_ITEMS`: consent and index dates, the index instant where the protocol's index has
  a time, participation status with its date and reason), and in the event of each dated or missed visit a form
  `F.VISIT` (`VISIT_ITEMS`: visit date, the reason of its deviation when dated outside its window, missed mark and
  reason). Their history comes from the audit rows of `subjects`, `visits` and `protocol_deviations`, as the forms'.
  Windows and window statuses are in the tabular exports.
- **Users** are named `USR.<login>` (not by database id): files of two instances name the same user alike. Imported
  history (below) is tied to no user id; a row whose name is the email of a user here is that user's `USR.<login>`.
- **Imported history**: the audit rows an ODM import wrote for its file's AuditRecords (action `imported`) are a
  row's history before anything this database did to it; the import's own writes of that row (`via` "ODM import
  ...", setting it to the file's last state) are not steps of their own. So a file imported and exported again
  gives back its ClinicalData.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import Row, func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Membership, Role, User
from ecrf.clock import now_utc
from ecrf.crfs.items import Item, Items, Kind
from ecrf.crfs.items import items as declare_items
from ecrf.crfs.models import CrfEntry, EntryStatus, MissingCode, Signature
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import SIGNATURE_MEANING
from ecrf.deviations.models import ProtocolDeviation
from ecrf.exports.scope import Progress, Scope
from ecrf.extensions import db
from ecrf.studies.models import Arm, ProtocolVersion, VisitDefinition
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit

NS = "http://www.cdisc.org/ns/odm/v1.3"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
#: Subjects read and written per chunk of ClinicalData.
CHUNK = 200
#: A value change and a missing-code change this close, by the same user, are one save.
SAME_SAVE = timedelta(seconds=2)

SYSTEM_USER = "USR.system"
MISSING_CODELIST = "CL.MISSING"
STATUS_CODELIST = "CL.FORMSTATUS"
FORM_STATES = ("draft", "complete", "source-verified", "signed", "verified and signed", "locked")
ALLOCATION = "ALLOCATION"
ARM_ITEM = f"I.{ALLOCATION}.ARM"
#: The common study event (and its form and group) holding a subject's own dates and status.
SUBJECT = "SUBJECT"
#: The form (and group), in each scheduled study event, holding the visit's date or missed mark.
VISIT = "VISIT"
#: The audit action of a row an ODM import wrote for an AuditRecord of its file (`ecrf.imports`), and how its own
#: writes are marked (`AuditEvent.via` starts with it).
IMPORTED = "imported"
IMPORT_VIA = "ODM import "
#: The deviation a visit dated outside its window records (`ecrf.effects`).
OUT_OF_WINDOW = "visit_out_of_window"

#: A subject's own items (columns of `subjects`, same names): ODM 1.3.2 has no element for them.
SUBJECT_ITEMS = declare_items(
    Item("consent_date", "Informed consent date", Kind.DATE),
    Item("index_date", "Index date (day 0)", Kind.DATE),
    Item("index_at", "Index date and time (where the protocol's index event has a time)", Kind.DATETIME, required=False),
    Item("status", "Participation status", Kind.CHOICE, codes=tuple((status.value, status.label) for status in SubjectStatus)),
    Item("status_date", "Date the status took effect", Kind.DATE, required=False),
    Item("status_reason", "Why the subject left the study", Kind.TEXT, required=False),
)
#: A visit's own items (columns of `visits`, and the reason of its out-of-window deviation).
VISIT_ITEMS = declare_items(
    Item("visit_date", "Visit date", Kind.DATE, required=False),
    Item("deviation_reason", "Why the visit took place outside its window (protocol deviation)", Kind.TEXT, required=False),
    Item("missed", "Visit missed", Kind.YES_NO),
    Item("missed_reason", "Why the visit was missed", Kind.TEXT, required=False),
)

_DATA_TYPES = {
    Kind.INTEGER: "integer",
    Kind.GRADED: "integer",
    Kind.DECIMAL: "float",
    Kind.CHOICE: "text",
    Kind.YES_NO: "boolean",
    Kind.TICK: "boolean",
    Kind.DATE: "date",
    Kind.DATETIME: "datetime",
    Kind.PARTIAL_DATE: "partialDate",
    Kind.TEXT: "text",
}
#: UserType by role, the first role of a user's in this order deciding.
_USER_TYPES = (
    (Role.INVESTIGATOR, "Investigator"),
    (Role.DATA_MANAGER, "Sponsor"),
    (Role.MONITOR, "Sponsor"),
    (Role.COORDINATOR, "Other"),
    (Role.BLINDED_ASSESSOR, "Other"),
    (Role.ADMIN, "Other"),
)


# -- OIDs: one place names them ----------------------------------------------------------------------------


def study_oid(code: str) -> str:
    return f"ST.{code}"


def event_oid(visit_code: str) -> str:
    return f"SE.{visit_code}"


def form_oid(code: str) -> str:
    return f"F.{code}"


def group_oid(code: str) -> str:
    return f"IG.{code}"


def item_oid(code: str, name: str) -> str:
    return f"I.{code}.{name}"


def codelist_oid(code: str, name: str) -> str:
    return f"CL.{code}.{name}"


def method_oid(code: str, name: str) -> str:
    return f"MT.{code}.{name}"


def location_oid(site_code: str) -> str:
    return f"LOC.{site_code}"


def user_oid(email: str) -> str:
    """A user's OID, from their login (an OID that does not depend on database ids: a file exported from another
    instance names the same user the same way)."""
    return f"USR.{email.lower()}"


def signature_def_oid(meaning: str) -> str:
    return f"SD.{re.sub(r'[^A-Za-z0-9]+', '_', meaning)}"


def unit_oid(unit: str) -> str:
    return "MU." + (re.sub(r"[^A-Za-z0-9]+", "_", unit.replace("%", "pct").replace("/", "_per_")).strip("_") or "unit")


# -- small builders ------------------------------------------------------------------------------------------


def _el(tag: str, attrib: Mapping[str, str | None] | None = None, *children: etree._Element, text: str | None = None) -> etree._Element:
    """An element of the ODM namespace (attributes with a None value left out)."""
    element = etree.Element(f"{{{NS}}}{tag}", nsmap={None: NS})
    for key, value in (attrib or {}).items():
        if value is not None:
            element.set(key, value)
    element.extend(children)
    if text is not None:
        element.text = text
    return element


def _translated(tag: str, text: str) -> etree._Element:
    return _el(tag, None, _el("TranslatedText", {XML_LANG: "en"}, text=text))


def _instant(moment: datetime) -> str:
    return moment.isoformat()


# -- what the scope holds ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    """The scope's study as the file describes it: visible forms per visit, units, users, OIDs."""

    scope: Scope
    mdv_oid: str
    effective: date
    #: visit code -> instrument codes visible at some exported site, in protocol order.
    visit_forms: dict[str, list[str]]
    shows_any_arm: bool
    arms: dict[int, str]
    site_codes: dict[int, str]
    users: dict[int, tuple[User, set[Role], set[str]]] = field(default_factory=dict)
    #: The users here that imported history names (by lower-case email): their rows carry the name, not the user id.
    named: dict[str, int] = field(default_factory=dict)
    meanings: list[str] = field(default_factory=list)

    @property
    def instruments(self) -> list[str]:
        return list(dict.fromkeys(code for codes in self.visit_forms.values() for code in codes))

    def user_ref(self, user_id: int | None, imported_name: str | None = None) -> str:
        """The UserOID of a user here, or of the user here an imported row names (by email); else the system."""
        if user_id is None and imported_name:
            user_id = self.named.get(imported_name.lower())
        return user_oid(self.users[user_id][0].email) if user_id is not None and user_id in self.users else SYSTEM_USER


def _visible_forms(scope: Scope) -> dict[str, list[str]]:
    """Per visit, the forms any exported site may see (a blinded site: the assessor's; elsewhere the arm's own
    forms only where the arm is shown)."""
    found: dict[str, list[str]] = {}
    for visit in scope.protocol.visits:
        codes: list[str] = []
        for site in scope.sites:
            if site.id in scope.blinded_site_ids:
                codes += visit.assessor_instruments
            elif scope.shows_arm(site.id):
                codes += visit.instruments + [code for arm_codes in visit.arm_instruments.values() for code in arm_codes]
            else:
                codes += visit.instruments_for(None)
        if codes:
            found[visit.code] = list(dict.fromkeys(codes))
    return found


def _subjects_query(scope: Scope):
    return select(Subject.id).where(Subject.study_id == scope.study.id, Subject.site_id.in_(scope.site_ids))


def _plan(scope: Scope, snapshot: bool) -> _Plan:
    study = scope.study
    loaded = db.session.scalar(select(ProtocolVersion.loaded_at).where(ProtocolVersion.study_id == study.id, ProtocolVersion.sha256 == study.protocol_sha256))
    plan = _Plan(
        scope=scope,
        mdv_oid=f"MDV.{study.code}.{study.protocol_sha256[:12]}",
        effective=(loaded or now_utc()).date(),
        visit_forms=_visible_forms(scope),
        shows_any_arm=bool(scope.arm_site_ids),
        arms={arm_id: code for arm_id, code in db.session.execute(select(Arm.id, Arm.code).where(Arm.study_id == study.id))},
        site_codes={site.id: site.code for site in scope.sites},
    )
    members = db.session.execute(
        select(User, Membership.role, Membership.site_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.study_id == study.id, Membership.site_id.in_(scope.site_ids))
    ).all()
    for user, role, site_id in members:
        _, roles, sites = plan.users.setdefault(user.id, (user, set(), set()))
        roles.add(role)
        sites.add(plan.site_codes[site_id])
    in_scope = _subjects_query(scope)
    signed = select(CrfEntry.id).where(CrfEntry.subject_id.in_(in_scope))
    named = set(db.session.scalars(select(Signature.user_id).where(Signature.entry_id.in_(signed), Signature.voided_at.is_(None)).distinct()))
    if not snapshot:
        named |= {user_id for user_id in db.session.scalars(select(AuditEvent.user_id).where(AuditEvent.subject_id.in_(in_scope)).distinct()) if user_id}
    for user in db.session.scalars(select(User).where(User.id.in_(named - set(plan.users)))):
        plan.users[user.id] = (user, set(), set())
    if not snapshot:
        names = db.session.scalars(
            select(AuditEvent.user_email).where(AuditEvent.subject_id.in_(in_scope), AuditEvent.action == IMPORTED, AuditEvent.user_id.is_(None)).distinct()
        )
        for user in db.session.scalars(select(User).where(func.lower(User.email).in_({name.lower() for name in names if name}))):
            plan.users.setdefault(user.id, (user, set(), set()))
            plan.named[user.email.lower()] = user.id
    meanings = db.session.scalars(select(Signature.meaning).where(Signature.entry_id.in_(signed), Signature.voided_at.is_(None)).distinct())
    plan.meanings = sorted({SIGNATURE_MEANING, *meanings})
    return plan


# -- Study: GlobalVariables, BasicDefinitions, MetaDataVersion ---------------------------------------------


def _study(plan: _Plan) -> etree._Element:
    scope, protocol = plan.scope, plan.scope.protocol
    described = [(code, list(instrument(code).items)) for code in plan.instruments]
    #: Every form of the file with its name, whether it repeats, and its items: the instruments, then the subject's and
    #: the visits' own.
    forms = [(code, instrument(code).label, instrument(code).repeating, items) for code, items in described] + [
        (SUBJECT, "Subject", False, list(SUBJECT_ITEMS)),
        (VISIT, "Visit", False, list(VISIT_ITEMS)),
    ]
    units = sorted({item.unit for _, items in described for item in items if item.unit})
    basic = _el("BasicDefinitions", None, *(_el("MeasurementUnit", {"OID": unit_oid(unit), "Name": unit}, _translated("Symbol", unit)) for unit in units))
    mdv = _el("MetaDataVersion", {"OID": plan.mdv_oid, "Name": f"{protocol.short_title} protocol {scope.study.protocol_sha256[:12]}"})
    mdv.set("Description", f"Generated from the loaded protocol version {scope.study.protocol_sha256} and the instrument declarations")
    events = [(visit, plan.visit_forms[visit.code]) for visit in protocol.visits if visit.code in plan.visit_forms]
    refs = [
        _el("StudyEventRef", {"StudyEventOID": event_oid(visit.code), "OrderNumber": str(number), "Mandatory": "Yes"})
        for number, (visit, _) in enumerate(events, 1)
    ]
    refs.append(_el("StudyEventRef", {"StudyEventOID": event_oid(SUBJECT), "OrderNumber": str(len(refs) + 1), "Mandatory": "Yes"}))
    if plan.shows_any_arm:
        refs.append(_el("StudyEventRef", {"StudyEventOID": event_oid(ALLOCATION), "OrderNumber": str(len(refs) + 1), "Mandatory": "No"}))
    mdv.append(_el("Protocol", None, _translated("Description", protocol.title), *refs))
    for visit, codes in events:
        mdv.append(
            _el(
                "StudyEventDef",
                {"OID": event_oid(visit.code), "Name": visit.label, "Repeating": "No", "Type": "Scheduled", "Category": visit.mode},
                _translated("Description", f"Day {visit.target_day} (window -{visit.days_before}/+{visit.days_after} days)"),
                *(
                    _el("FormRef", {"FormOID": form_oid(code), "OrderNumber": str(number), "Mandatory": "Yes" if code in visit.instruments else "No"})
                    for number, code in enumerate(codes, 1)
                ),
                _el("FormRef", {"FormOID": form_oid(VISIT), "OrderNumber": str(len(codes) + 1), "Mandatory": "No"}),
            )
        )
    mdv.append(
        _el(
            "StudyEventDef",
            {"OID": event_oid(SUBJECT), "Name": "Subject", "Repeating": "No", "Type": "Common"},
            _translated("Description", "The subject's consent and index dates and participation status"),
            _el("FormRef", {"FormOID": form_oid(SUBJECT), "Mandatory": "Yes"}),
        )
    )
    if plan.shows_any_arm:
        mdv.append(
            _el(
                "StudyEventDef",
                {"OID": event_oid(ALLOCATION), "Name": "Allocation", "Repeating": "No", "Type": "Common"},
                _el("FormRef", {"FormOID": form_oid(ALLOCATION), "Mandatory": "No"}),
            )
        )
    for code, name, repeating, _ in forms:
        mdv.append(
            _el(
                "FormDef",
                {"OID": form_oid(code), "Name": name, "Repeating": "Yes" if repeating else "No"},
                _el("ItemGroupRef", {"ItemGroupOID": group_oid(code), "Mandatory": "Yes"}),
            )
        )
    if plan.shows_any_arm:
        mdv.append(
            _el(
                "FormDef",
                {"OID": form_oid(ALLOCATION), "Name": "Allocation", "Repeating": "No"},
                _el("ItemGroupRef", {"ItemGroupOID": group_oid(ALLOCATION), "Mandatory": "Yes"}),
            )
        )
    for code, name, _, items in forms:
        group = _el("ItemGroupDef", {"OID": group_oid(code), "Name": name, "Repeating": "No"})
        for number, item in enumerate(items, 1):
            group.append(
                _el(
                    "ItemRef",
                    {
                        "ItemOID": item_oid(code, item.name),
                        "OrderNumber": str(number),
                        "Mandatory": "Yes" if item.required and not item.derived else "No",
                        "MethodOID": method_oid(code, item.name) if item.derived else None,
                    },
                )
            )
        mdv.append(group)
    if plan.shows_any_arm:
        mdv.append(
            _el(
                "ItemGroupDef",
                {"OID": group_oid(ALLOCATION), "Name": "Allocation", "Repeating": "No"},
                _el("ItemRef", {"ItemOID": ARM_ITEM, "Mandatory": "Yes"}),
            )
        )
    for code, _, _, items in forms:
        mdv.extend(_item_def(code, item) for item in items)
    if plan.shows_any_arm:
        mdv.append(
            _el(
                "ItemDef",
                {"OID": ARM_ITEM, "Name": "arm", "DataType": "text", "Origin": "Allocation"},
                _translated("Question", "Arm"),
                _el("CodeListRef", {"CodeListOID": f"CL.{ALLOCATION}.ARM"}),
            )
        )
    for code, _, _, items in forms:
        mdv.extend(_codelist(codelist_oid(code, item.name), item.label, _codelist_type(item), item.codes) for item in items if _has_codelist(item))
    if plan.shows_any_arm:
        mdv.append(_codelist(f"CL.{ALLOCATION}.ARM", "Arm", "text", [(arm.code, arm.label) for arm in protocol.arms]))
    mdv.append(_codelist(MISSING_CODELIST, "Missing-data code", "text", [(code.value, code.label) for code in MissingCode]))
    mdv.append(_codelist(STATUS_CODELIST, "Form status", "text", [(state, state) for state in FORM_STATES]))
    for code, items in described:
        mdv.extend(
            _el(
                "MethodDef",
                {"OID": method_oid(code, item.name), "Name": f"{code}.{item.name}", "Type": "Computation"},
                _translated(
                    "Description",
                    f"Computed when the form is saved{' from ' + ', '.join(item.derived_from or ()) if item.derived_from else ' (from the visit and protocol)'}",
                ),
            )
            for item in items
            if item.derived
        )
    return _el(
        "Study",
        {"OID": study_oid(scope.study.code)},
        _el(
            "GlobalVariables",
            None,
            _el("StudyName", text=scope.study.short_title),
            _el("StudyDescription", text=scope.study.title),
            _el("ProtocolName", text=scope.study.registry_id or scope.study.code),
        ),
        basic,
        mdv,
    )


def _has_codelist(item: Item) -> bool:
    return bool(item.codes) and item.kind in (Kind.CHOICE, Kind.GRADED)


def _codelist_type(item: Item) -> str:
    return "integer" if item.kind is Kind.GRADED else "text"


def _codelist(oid: str, name: str, data_type: str, codes: Sequence[tuple[object, str]]) -> etree._Element:
    return _el(
        "CodeList",
        {"OID": oid, "Name": name, "DataType": data_type},
        *(
            _el("CodeListItem", {"CodedValue": str(code), "OrderNumber": str(number)}, _translated("Decode", label))
            for number, (code, label) in enumerate(codes, 1)
        ),
    )


def _item_def(code: str, item: Item) -> etree._Element:
    attrib = {"OID": item_oid(code, item.name), "Name": item.name, "DataType": _DATA_TYPES[item.kind], "Origin": "Derived" if item.derived else "CRF"}
    if item.kind is Kind.TEXT and item.max_length:
        attrib["Length"] = str(item.max_length)
    if item.kind is Kind.CHOICE:
        attrib["Length"] = str(item.length or max(len(str(value)) for value, _ in item.codes))
    if item.kind is Kind.DECIMAL and item.places is not None:
        attrib["SignificantDigits"] = str(item.places)
    element = _el("ItemDef", attrib)
    if item.description:
        element.append(_translated("Description", item.description))
    element.append(_translated("Question", item.label))
    if item.unit:
        element.append(_el("MeasurementUnitRef", {"MeasurementUnitOID": unit_oid(item.unit)}))
    for comparator, bound in (("GE", item.low), ("LE", item.high)):
        if bound is not None and item.kind in (Kind.INTEGER, Kind.DECIMAL):
            element.append(
                _el(
                    "RangeCheck",
                    {"Comparator": comparator, "SoftHard": "Hard"},
                    _el("CheckValue", text=str(bound)),
                    _translated(
                        "ErrorMessage", f"{item.label}: {'at least' if comparator == 'GE' else 'at most'} {bound}{' ' + item.unit if item.unit else ''}"
                    ),
                )
            )
    if _has_codelist(item):
        element.append(_el("CodeListRef", {"CodeListOID": codelist_oid(code, item.name)}))
    return element


# -- AdminData -------------------------------------------------------------------------------------------


def _admin_data(plan: _Plan) -> etree._Element:
    scope = plan.scope
    admin = _el("AdminData", {"StudyOID": study_oid(scope.study.code)})

    def rank(entry: tuple[User, set[Role], set[str]]) -> tuple[int, str]:
        _, roles, _ = entry
        return (min((number for number, (role, _) in enumerate(_USER_TYPES) if role in roles), default=len(_USER_TYPES)), entry[0].full_name)

    for user, roles, sites in sorted(plan.users.values(), key=rank):
        user_type = next((kind for role, kind in _USER_TYPES if role in roles), "Other")
        held = ", ".join(role.label for role, _ in _USER_TYPES if role in roles) or "no role at the exported sites"
        admin.append(
            _el(
                "User",
                {"OID": user_oid(user.email), "UserType": user_type},
                _el("LoginName", text=user.email),
                _el("DisplayName", text=f"{user.full_name} ({held})"),
                _el("FullName", text=user.full_name),
                *(_el("LocationRef", {"LocationOID": location_oid(code)}) for code in sorted(sites)),
            )
        )
    admin.append(_el("User", {"OID": SYSTEM_USER, "UserType": "Other"}, _el("DisplayName", text="System (commands, imports, scheduled jobs)")))
    for site in scope.sites:
        admin.append(
            _el(
                "Location",
                {"OID": location_oid(site.code), "Name": site.name, "LocationType": "Site"},
                _el(
                    "MetaDataVersionRef",
                    {"StudyOID": study_oid(scope.study.code), "MetaDataVersionOID": plan.mdv_oid, "EffectiveDate": plan.effective.isoformat()},
                ),
            )
        )
    for meaning in plan.meanings:
        admin.append(
            _el(
                "SignatureDef",
                {"OID": signature_def_oid(meaning), "Methodology": "Electronic"},
                _el("Meaning", text=meaning),
                _el(
                    "LegalReason",
                    text="21 CFR 11.50: the investigator's electronic signature of the form's data, the legally binding equivalent of a handwritten one",
                ),
            )
        )
    return admin


# -- ClinicalData ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    """One state of an item's value after an audited change (value text or a missing code), and who made it."""

    value: str | None
    missing: dict[str, str] | None
    #: Who: the user id, or, for imported history (never tied to a user id), the name the import gave.
    who: tuple[int | None, str | None]
    at: datetime | None
    reason: str | None
    #: What the step changed: "value", "missing" or both (the changes of one save).
    sources: frozenset[str] = frozenset()


def _value_text(item_kind: Kind, value: Any, places: int | None = None) -> str | None:
    """A stored value as ODM writes it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if item_kind is Kind.DECIMAL:
        number = Decimal(str(value))
        return str(number.quantize(Decimal(1).scaleb(-places))) if places is not None else str(number)
    return str(value)


def _audited_text(item: Item, text: str | None) -> str | None:
    """A value as the audit trail holds it, as ODM writes it."""
    if text is None or text == "":
        return None
    if item.kind is Kind.DECIMAL:
        try:
            return _value_text(item.kind, Decimal(text), item.places)
        except ArithmeticError:
            return text
    if item.kind is Kind.DATETIME:  # an instant set in the site's time zone is written in UTC, as stored
        try:
            return datetime.fromisoformat(text).astimezone(UTC).isoformat()
        except ValueError:
            return text
    return text


def _history(events: list[Row], name: str, value_of) -> list[_Step]:
    """The states of one item through the events of its entry (value changes of field `name`, changes of its
    missing code in the entry's `missing`); a value change and a missing-code change of one save (same user,
    within `SAME_SAVE`) are one step. Two value changes are never one save."""
    steps: list[_Step] = []
    value: str | None = None
    missing: dict[str, str] | None = None
    for event in events:
        if event.object_type == "crf_entries":
            now_missing = json.loads(event.new_value or "{}").get(name)
            if now_missing == missing:
                continue
            missing = now_missing
        elif event.field == name:
            value = value_of(event.new_value)
        else:
            continue
        source = "missing" if event.object_type == "crf_entries" else "value"
        who = (event.user_id, event.user_email if event.action == IMPORTED and event.user_id is None else None)
        last = steps[-1] if steps else None
        if last is not None and source not in last.sources and last.who == who and last.at is not None and abs(event.at - last.at) <= SAME_SAVE:
            steps[-1] = _Step(value, missing, who, event.at, event.reason or last.reason, last.sources | {source})
        else:
            steps.append(_Step(value, missing, who, event.at, event.reason, frozenset({source})))
    return steps


def _audit_record(plan: _Plan, step: _Step, site_code: str) -> etree._Element:
    record = _el(
        "AuditRecord",
        None,
        _el("UserRef", {"UserOID": plan.user_ref(*step.who)}),
        _el("LocationRef", {"LocationOID": location_oid(site_code)}),
        _el("DateTimeStamp", text=_instant(step.at) if step.at else ""),
    )
    if step.reason:
        record.append(_el("ReasonForChange", text=step.reason))
    return record


def _item_data(oid: str, value: str | None, missing: dict[str, str] | None, transaction: str | None, record: etree._Element | None) -> etree._Element:
    element = _el("ItemData", {"ItemOID": oid, "TransactionType": transaction})
    if value is None:
        element.set("IsNull", "Yes")
    else:
        element.set("Value", value)
    if record is not None:
        element.append(record)
    if value is None and missing:
        annotation = _el("Annotation", {"SeqNum": "1"})
        if missing.get("reason"):
            annotation.append(_el("Comment", text=missing["reason"]))
        annotation.append(_el("Flag", None, _el("FlagValue", {"CodeListOID": MISSING_CODELIST}, text=missing.get("code", ""))))
        element.append(annotation)
    return element


def _items_of(plan: _Plan, oid: str, current: tuple[str | None, dict[str, str] | None], steps: list[_Step] | None, site_code: str) -> list[etree._Element]:
    """The ItemData of one item: its history (when `steps` is given) ending with the current state."""
    value, missing = current
    if steps is None or not steps:
        return [] if value is None and not missing else [_item_data(oid, value, missing, None if steps is None else "Insert", None)]
    elements = []
    for number, step in enumerate(steps):
        last = number == len(steps) - 1
        elements.append(
            _item_data(
                oid,
                value if last else step.value,
                missing if last else step.missing,
                "Insert" if number == 0 else "Update",
                _audit_record(plan, step, site_code),
            )
        )
    return elements


def _form_state(entry: Row, signed: bool) -> str:
    if entry.status == EntryStatus.LOCKED:
        return "locked"
    if entry.status == EntryStatus.DRAFT:
        return "draft"
    return {(True, True): "verified and signed", (True, False): "source-verified", (False, True): "signed"}.get(
        (entry.verified_at is not None, signed), "complete"
    )


@dataclass
class _Chunk:
    """The rows of one chunk of subjects, read with plain row queries (nothing kept in the session)."""

    subjects: Sequence[Row]
    visits: dict[int, list[Row]]
    entries: dict[int, list[Row]]
    data: dict[int, Row]
    signatures: dict[int, Row]
    events: dict[tuple[str, str], list[Row]]
    #: visit id -> its latest out-of-window deviation (id, reason), for visits dated outside their window.
    deviations: dict[int, Row] = field(default_factory=dict)


def _chunks(plan: _Plan, snapshot: bool) -> Iterator[_Chunk]:
    scope = plan.scope
    tables = {instrument(code).model.__tablename__ for code in plan.instruments}
    after = ""
    while True:
        subjects = db.session.execute(
            select(Subject.id, Subject.subject_code, Subject.site_id, Subject.arm_id, *(getattr(Subject, item.name) for item in SUBJECT_ITEMS))
            .where(Subject.study_id == scope.study.id, Subject.site_id.in_(scope.site_ids), Subject.subject_code > after)
            .order_by(Subject.subject_code)
            .limit(CHUNK)
        ).all()
        if not subjects:
            return
        after = subjects[-1].subject_code
        ids = [subject.id for subject in subjects]
        visits: dict[int, list[Row]] = defaultdict(list)
        for visit in db.session.execute(
            select(Visit.id, Visit.subject_id, VisitDefinition.code, Visit.visit_date, Visit.missed, Visit.missed_reason, Visit.window_start, Visit.window_end)
            .join(VisitDefinition, VisitDefinition.id == Visit.definition_id)
            .where(Visit.subject_id.in_(ids))
            .order_by(Visit.subject_id, VisitDefinition.position)
        ):
            visits[visit.subject_id].append(visit)
        deviations = {
            row.visit_id: row
            for row in db.session.execute(
                select(ProtocolDeviation.id, ProtocolDeviation.visit_id, ProtocolDeviation.reason)
                .where(ProtocolDeviation.subject_id.in_(ids), ProtocolDeviation.kind == OUT_OF_WINDOW)
                .order_by(ProtocolDeviation.id)
            )
        }
        entries: dict[int, list[Row]] = defaultdict(list)
        by_instrument: dict[str, list[int]] = defaultdict(list)
        for entry in db.session.execute(
            select(CrfEntry.__table__).where(CrfEntry.subject_id.in_(ids), CrfEntry.none_reported.is_(False)).order_by(CrfEntry.instrument, CrfEntry.sequence)
        ):
            entries[entry.visit_id].append(entry)
            by_instrument[entry.instrument].append(entry.id)
        data: dict[int, Row] = {}
        for code, entry_ids in by_instrument.items():
            if code in plan.instruments:
                table = instrument(code).model.__table__
                data |= {row.entry_id: row for row in db.session.execute(select(table).where(table.c.entry_id.in_(entry_ids)))}
        all_entries = [entry_id for entry_ids in by_instrument.values() for entry_id in entry_ids]
        signatures = {
            row.entry_id: row
            for row in db.session.execute(
                select(Signature.entry_id, Signature.user_id, Signature.meaning, Signature.signed_at).where(
                    Signature.entry_id.in_(all_entries), Signature.voided_at.is_(None)
                )
            )
        }
        events: dict[tuple[str, str], list[Row]] = defaultdict(list)
        if not snapshot:
            # A subject's history starts at its enrolment (its row's creation in the trail): a trail kept across a
            # database emptied and filled again (as the test suite keeps it) never lends a subject the history of an
            # earlier row with the same id.
            enrolled = {
                object_id: first
                for object_id, first in db.session.execute(
                    select(AuditEvent.object_id, func.max(AuditEvent.id))
                    .where(AuditEvent.object_type == "subjects", AuditEvent.action == "create", AuditEvent.object_id.in_([str(id_) for id_ in ids]))
                    .group_by(AuditEvent.object_id)
                )
            }
            for event in db.session.execute(
                select(
                    AuditEvent.id,
                    AuditEvent.subject_id,
                    AuditEvent.object_type,
                    AuditEvent.object_id,
                    AuditEvent.field,
                    AuditEvent.new_value,
                    AuditEvent.user_id,
                    AuditEvent.user_email,
                    AuditEvent.at,
                    AuditEvent.reason,
                    AuditEvent.action,
                    AuditEvent.via,
                )
                .where(AuditEvent.subject_id.in_(ids), AuditEvent.field.is_not(None), AuditEvent.action.in_(("create", "update", IMPORTED)))
                .where(
                    AuditEvent.object_type.in_(tables)
                    | ((AuditEvent.object_type == "crf_entries") & (AuditEvent.field == "missing"))
                    | ((AuditEvent.object_type == "subjects") & AuditEvent.field.in_(["arm_id", *(item.name for item in SUBJECT_ITEMS)]))
                    | ((AuditEvent.object_type == "visits") & AuditEvent.field.in_([item.name for item in VISIT_ITEMS]))
                    | ((AuditEvent.object_type == "protocol_deviations") & (AuditEvent.field == "reason"))
                )
                .order_by(AuditEvent.id)
            ):
                if event.id >= enrolled.get(str(event.subject_id), 0):
                    events[(event.object_type, event.object_id or "")].append(event)
            events = defaultdict(list, {key: _with_imported_history(rows) for key, rows in events.items()})
        yield _Chunk(subjects, visits, entries, data, signatures, events, deviations)


def _with_imported_history(events: list[Row]) -> list[Row]:
    """The events of one row of this database, with the history an ODM import brought along for it first: the rows
    the import wrote for its file's AuditRecords (action `imported`), then what was done to the row here except the
    import's own writes (which set the row to the file's last state, already the last imported step)."""
    imported = [event for event in events if event.action == IMPORTED]
    if not imported:
        return events
    return imported + [event for event in events if event.action != IMPORTED and not (event.via or "").startswith(IMPORT_VIA)]


def _subject_data(plan: _Plan, chunk: _Chunk, subject: Row, snapshot: bool) -> tuple[etree._Element, int]:
    """One SubjectData and the number of forms it holds."""
    scope = plan.scope
    site_code = plan.site_codes[subject.site_id]
    arm_code = plan.arms.get(subject.arm_id) if subject.arm_id is not None else None
    element = _el("SubjectData", {"SubjectKey": subject.subject_code}, _el("SiteRef", {"LocationOID": location_oid(site_code)}))
    own = {item.name: getattr(subject, item.name) for item in SUBJECT_ITEMS}
    events = {item.name: chunk.events.get(("subjects", str(subject.id)), []) for item in SUBJECT_ITEMS}
    element.append(_event_data(SUBJECT, _own_form(plan, SUBJECT, SUBJECT_ITEMS, own, events, site_code, snapshot)))
    forms = 0
    for visit in chunk.visits.get(subject.id, []):
        visible = scope.instruments(subject.site_id, visit.code, arm_code)
        if not visible:
            continue
        entries = [entry for entry in chunk.entries.get(visit.id, []) if entry.instrument in visible and entry.id in chunk.data]
        dated = visit.visit_date is not None or visit.missed
        if not entries and not dated:
            continue
        event = _el("StudyEventData", {"StudyEventOID": event_oid(visit.code)})
        for entry in entries:
            event.append(_form_data(plan, chunk, entry, site_code, snapshot))
            forms += 1
        if dated:
            event.append(_visit_form(plan, chunk, visit, site_code, snapshot))
        element.append(event)
    if scope.shows_arm(subject.site_id) and arm_code is not None:
        steps = (
            None
            if snapshot
            else _history(chunk.events.get(("subjects", str(subject.id)), []), "arm_id", lambda text: plan.arms.get(int(text)) if text else None)
        )
        group = _el("ItemGroupData", {"ItemGroupOID": group_oid(ALLOCATION)}, *_items_of(plan, ARM_ITEM, (arm_code, None), steps, site_code))
        element.append(_event_data(ALLOCATION, _el("FormData", {"FormOID": form_oid(ALLOCATION)}, group)))
    return element, forms


def _event_data(code: str, form: etree._Element) -> etree._Element:
    return _el("StudyEventData", {"StudyEventOID": event_oid(code)}, form)


def _own_form(
    plan: _Plan,
    code: str,
    declared: Items,
    values: dict[str, Any],
    events: dict[str, list[Row]],
    site_code: str,
    snapshot: bool,
    fields: dict[str, str] | None = None,
) -> etree._Element:
    """The FormData of a subject's or a visit's own items: their current `values`, each with its history from
    `events` (the audit rows of the row holding it, whose field is the item's name or `fields[name]`)."""
    group = _el("ItemGroupData", {"ItemGroupOID": group_oid(code)})
    for item in declared:
        current = (_value_text(item.kind, values[item.name]), None)
        column = (fields or {}).get(item.name, item.name)
        steps = None if snapshot else _history(events[item.name], column, lambda text, item=item: _audited_text(item, text))
        group.extend(_items_of(plan, item_oid(code, item.name), current, steps, site_code))
    return _el("FormData", {"FormOID": form_oid(code)}, group)


def _visit_form(plan: _Plan, chunk: _Chunk, visit: Row, site_code: str, snapshot: bool) -> etree._Element:
    """A dated or missed visit's own form: its date (and the reason of its deviation, when dated outside its
    window) or its missed mark and reason."""
    deviation = chunk.deviations.get(visit.id)
    if visit.visit_date is None or visit.window_start <= visit.visit_date <= visit.window_end:
        deviation = None
    values = {
        "visit_date": visit.visit_date,
        "missed": visit.missed,
        "missed_reason": visit.missed_reason,
        "deviation_reason": deviation.reason if deviation is not None else None,
    }
    own = chunk.events.get(("visits", str(visit.id)), [])
    events = {item.name: own for item in VISIT_ITEMS}
    events["deviation_reason"] = chunk.events.get(("protocol_deviations", str(deviation.id)), []) if deviation is not None else []
    return _own_form(plan, VISIT, VISIT_ITEMS, values, events, site_code, snapshot, fields={"deviation_reason": "reason"})


def _form_data(plan: _Plan, chunk: _Chunk, entry: Row, site_code: str, snapshot: bool) -> etree._Element:
    described = instrument(entry.instrument)
    form = _el("FormData", {"FormOID": form_oid(entry.instrument), "FormRepeatKey": str(entry.sequence) if described.repeating else None})
    signature = chunk.signatures.get(entry.id)
    if signature is not None:
        form.append(
            _el(
                "Signature",
                None,
                _el("UserRef", {"UserOID": plan.user_ref(signature.user_id)}),
                _el("LocationRef", {"LocationOID": location_oid(site_code)}),
                _el("SignatureRef", {"SignatureOID": signature_def_oid(signature.meaning)}),
                _el("DateTimeStamp", text=_instant(signature.signed_at)),
            )
        )
    form.append(
        _el(
            "Annotation", {"SeqNum": "1"}, _el("Flag", None, _el("FlagValue", {"CodeListOID": STATUS_CODELIST}, text=_form_state(entry, signature is not None)))
        )
    )
    row = chunk.data[entry.id]
    missing = entry.missing or {}
    events = chunk.events.get((described.model.__tablename__, str(entry.id)), []) + chunk.events.get(("crf_entries", str(entry.id)), [])
    events.sort(key=lambda event: (event.action != IMPORTED, event.id))  # imported history first (`_with_imported_history`)
    group = _el("ItemGroupData", {"ItemGroupOID": group_oid(entry.instrument)})
    for item in described.items:
        current = (_value_text(item.kind, getattr(row, item.name), item.places), missing.get(item.name))
        steps = None if snapshot else _history(events, item.name, lambda text, item=item: _audited_text(item, text))
        group.extend(_items_of(plan, item_oid(entry.instrument, item.name), current, steps, site_code))
    form.append(group)
    return form


# -- the file --------------------------------------------------------------------------------------------


def write_odm(scope: Scope, path: Path, *, snapshot: bool, progress: Progress) -> int:
    """Write the scope's metadata and clinical data as one ODM 1.3.2 XML file at `path`; returns the data rows
    (the forms written). `snapshot`: current values only, without their audit history. `progress(done, total)`
    counts subjects."""
    plan = _plan(scope, snapshot)
    total = db.session.scalar(select(func.count()).select_from(_subjects_query(scope).subquery())) or 0
    created = now_utc()
    attrib = {
        "FileType": "Snapshot" if snapshot else "Transactional",
        "Granularity": "All",
        "FileOID": f"ODM.{scope.study.code}.{created:%Y%m%dT%H%M%S%f}",
        "CreationDateTime": _instant(created),
        "AsOfDateTime": _instant(created),
        "ODMVersion": "1.3.2",
        "Originator": scope.user.email,
        "SourceSystem": "ecrf",
        "Description": f"{scope.describe()}{'' if snapshot else ', with audit history'}",
    }
    rows = done = 0
    progress(0, total)
    with etree.xmlfile(str(path), encoding="UTF-8") as out:
        out.write_declaration()
        with out.element(f"{{{NS}}}ODM", attrib, nsmap={None: NS}):
            out.write(_study(plan))
            out.write(_admin_data(plan))
            with out.element(f"{{{NS}}}ClinicalData", {"StudyOID": study_oid(scope.study.code), "MetaDataVersionOID": plan.mdv_oid}):
                for chunk in _chunks(plan, snapshot):
                    for subject in chunk.subjects:
                        element, forms = _subject_data(plan, chunk, subject, snapshot)
                        out.write(element)
                        rows += forms
                    done += len(chunk.subjects)
                    out.flush()
                    progress(done, total)
    return rows
