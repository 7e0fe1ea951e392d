"""The CDISC ODM 1.3.2 export: valid against the schema, every OID it references defined, the data read back equal to
the database (every item of the subjects entered), the history as audit records (none in a snapshot), the scope kept:
only the scope's sites, and a blinded assessor's file holds no arm."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from ecrf.audit.trail import set_actor
from ecrf.auth.models import Role
from ecrf.auth.services import PasswordCheck
from ecrf.crfs.input import EntryInput
from ecrf.crfs.models import CrfEntry
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import entry_data, save_entry, sign_entries, verify_entry
from ecrf.exports import odm
from ecrf.exports.scope import export_scope
from ecrf.exports.services import run_export
from ecrf.extensions import db
from ecrf.protocols import protocols
from ecrf.subjects.models import Subject
from ecrf.visits.services import mark_missed, record_visit_date
from tests.test_instrument_declarations import typed_example
from tests.test_instruments_generic import EXAMPLES

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
LATER = datetime(2027, 6, 2, 4, 0, tzinfo=UTC)
INDEX = date(2026, 9, 1)
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "odm-1.3.2" / "ODM1-3-2.xsd"
NS = f"{{{odm.NS}}}"

#: Attribute that references an OID -> the element that defines it.
REFERENCES = {
    "StudyOID": "Study",
    "MetaDataVersionOID": "MetaDataVersion",
    "StudyEventOID": "StudyEventDef",
    "FormOID": "FormDef",
    "ItemGroupOID": "ItemGroupDef",
    "ItemOID": "ItemDef",
    "CodeListOID": "CodeList",
    "MeasurementUnitOID": "MeasurementUnit",
    "MethodOID": "MethodDef",
    "LocationOID": "Location",
    "UserOID": "User",
    "SignatureOID": "SignatureDef",
}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def _enter_every_form(subject: Subject, user) -> list[CrfEntry]:
    """Every form of every visit due by now, complete with its instrument test's example values."""
    entries = []
    arm = subject.arm.code if subject.arm else None
    protocol = protocols()[subject.study.code]
    for visit in subject.visits:
        if visit.target_date > NOW.date():
            continue
        record_visit_date(visit, visit.target_date)
        for code in protocol.visit(visit.definition.code).instruments_for(arm):
            described = instrument(code)
            values = {item.name: typed_example(item.kind, EXAMPLES[code].get(item.name, ""), subject.site.timezone) for item in described.items.entered}
            entries.append(save_entry(visit, described, EntryInput(values=values, complete=True, by=user), entry=None))
    db.session.commit()
    return entries


@pytest.fixture
def trial(make_site, make_user, make_subject, clock):
    """ANGEL-ICAS at BJ01 (and one subject at BJ02): two subjects, one per arm, every form due entered; one value
    changed with a reason, one item marked not done, one form verified and signed."""
    sites = [make_site(code, ["angel-icas"]) for code in ("BJ01", "BJ02")]
    coordinator = make_user("c@example.org", [("angel-icas", sites[0], Role.COORDINATOR)], name="Chen Coordinator")
    investigator = make_user("i@example.org", [("angel-icas", sites[0], Role.INVESTIGATOR)], name="Ivy Investigator")
    monitor = make_user("m@example.org", [("angel-icas", site, Role.MONITOR) for site in sites], name="Mo Monitor")
    manager = make_user("dm@example.org", [("angel-icas", site, Role.DATA_MANAGER) for site in sites], name="Dana Manager")
    assessor = make_user("a@example.org", [("angel-icas", sites[0], Role.BLINDED_ASSESSOR)], name="Ada Assessor")
    with clock(datetime(2026, 9, 1, 1)):
        subjects = [make_subject("angel-icas", sites[0], INDEX, arm=arm) for arm in ("balloon", "stent")]
        subjects.append(make_subject("angel-icas", sites[1], INDEX, arm="stent"))
    with clock(NOW):
        entries = [entry for subject in subjects for entry in _enter_every_form(subject, coordinator)]
        nihss = next(e for e in entries if e.instrument == "nihss" and e.subject_id == subjects[0].id)
    with clock(LATER):
        set_actor(db.session(), coordinator)  # as a request does for the logged-in user
        described = instrument("nihss")
        data = entry_data(described, nihss)
        values = {name: getattr(data, name) for name in described.items.entered_names()}
        changed = {**values, "item_1a": 2 if values["item_1a"] != 2 else 1}
        missing = {"item_9": {"code": "not_done", "reason": "not asked"}}
        save_entry(
            nihss.visit,
            described,
            EntryInput(values={**changed, "item_9": None}, missing=missing, complete=True, by=coordinator, version_seen=nihss.version, reason="typo on paper"),
            entry=nihss,
        )
        set_actor(db.session(), monitor)
        verify_entry(nihss, monitor)
        set_actor(db.session(), investigator)
        sign_entries([(nihss, described)], investigator, PasswordCheck(ok=True))
        db.session.commit()
    return {
        "sites": sites,
        "subjects": subjects,
        "nihss": nihss,
        "manager": manager,
        "monitor": monitor,
        "coordinator": coordinator,
        "assessor": assessor,
        "investigator": investigator,
        "old_loc": values["item_1a"],
    }


def _export(tmp_path: Path, user, sites: list[str] | None = None, snapshot: bool = False) -> etree._ElementTree:
    path = tmp_path / f"{user.id}-{snapshot}.xml"
    run_export(export_scope(user, "angel-icas", sites), "odm", path, snapshot=snapshot)
    return etree.parse(str(path))


def _typed_back(data_type: str, value: str | None):
    if value is None:
        return None
    return {
        "integer": int,
        "float": Decimal,
        "boolean": lambda text: text == "true",
        "date": date.fromisoformat,
        "datetime": datetime.fromisoformat,
    }.get(data_type, str)(value)


def test_the_odm_file_validates_against_the_odm_1_3_2_schema_with_and_without_history(trial, tmp_path, schema):
    for snapshot in (False, True):
        document = _export(tmp_path, trial["manager"], snapshot=snapshot)
        assert schema.validate(document), schema.error_log
        assert document.getroot().get("FileType") == ("Snapshot" if snapshot else "Transactional")


def _undefined_references(root: etree._Element) -> list[str]:
    """What the schema does not check: each OID defined once, every OID referenced defined by an element of the
    right kind, and the ClinicalData nested as the metadata says (a FormData in a StudyEventData whose
    StudyEventDef has its FormRef, an ItemGroupData in a FormDef's ItemGroupRef, an ItemData in an ItemGroupDef's
    ItemRef). Returns the faults."""
    faults: list[str] = []
    defined: dict[str, set[str]] = {tag: set() for tag in REFERENCES.values()}
    for element in root.iter():
        tag = etree.QName(element).localname
        if tag in defined:
            if element.get("OID") in defined[tag]:
                faults.append(f"{tag} {element.get('OID')} defined twice")
            defined[tag].add(element.get("OID"))
    for element in root.iter():
        for attribute, value in element.attrib.items():
            if attribute in REFERENCES and value not in defined[REFERENCES[attribute]]:
                faults.append(f"{etree.QName(element).localname} {attribute}={value} is not defined")
    children = {
        (etree.QName(definition).localname, definition.get("OID")): {
            ref.get(key) for ref in definition for key in ("FormOID", "ItemGroupOID", "ItemOID") if ref.get(key)
        }
        for definition in root.iter(f"{NS}StudyEventDef", f"{NS}FormDef", f"{NS}ItemGroupDef")
    }
    for parent, oid_attribute, definition, child, key in (
        ("StudyEventData", "StudyEventOID", "StudyEventDef", "FormData", "FormOID"),
        ("FormData", "FormOID", "FormDef", "ItemGroupData", "ItemGroupOID"),
        ("ItemGroupData", "ItemGroupOID", "ItemGroupDef", "ItemData", "ItemOID"),
    ):
        for data in root.iter(f"{NS}{parent}"):
            allowed = children.get((definition, data.get(oid_attribute)), set())
            faults += [
                f"{child} {element.get(key)} in {parent} {data.get(oid_attribute)}" for element in data.iter(f"{NS}{child}") if element.get(key) not in allowed
            ]
    return faults


def test_every_oid_the_file_references_is_defined_and_the_data_follow_the_metadata(trial, tmp_path):
    root = _export(tmp_path, trial["manager"]).getroot()
    assert _undefined_references(root) == []
    referenced = {attribute for element in root.iter() for attribute in element.attrib if attribute in REFERENCES}
    assert referenced == set(REFERENCES), "every kind of reference is exercised"


def test_an_item_data_of_an_undefined_item_is_caught_by_the_reference_check(trial, tmp_path):
    root = _export(tmp_path, trial["manager"]).getroot()
    root.find(f".//{NS}ItemData").set("ItemOID", "I.nowhere.x")
    assert any("I.nowhere.x" in fault for fault in _undefined_references(root))


def _compare_with_the_database(root: etree._Element, subjects: list[Subject]) -> int:
    """Assert that the current value (the last ItemData) and missing code of every item of every entry of
    `subjects` read back from the file equal the database; returns the number of items compared."""
    data_types = {item.get("OID"): item.get("DataType") for item in root.iter(f"{NS}ItemDef")}
    written = {element.get("SubjectKey"): element for element in root.iter(f"{NS}SubjectData")}
    compared = 0
    for subject in subjects:
        entries = db.session.scalars(select(CrfEntry).where(CrfEntry.subject_id == subject.id)).all()
        assert entries
        for entry in entries:
            described = instrument(entry.instrument)
            event = written[subject.subject_code].find(f"{NS}StudyEventData[@StudyEventOID='SE.{entry.visit.definition.code}']")
            repeat = f"[@FormRepeatKey='{entry.sequence}']" if described.repeating else ""
            form = event.find(f"{NS}FormData[@FormOID='F.{entry.instrument}']{repeat}")
            current = {}
            for element in form.iter(f"{NS}ItemData"):  # the last ItemData of an item is its current value
                flag = element.find(f"{NS}Annotation/{NS}Flag/{NS}FlagValue")
                current[element.get("ItemOID")] = (
                    _typed_back(data_types[element.get("ItemOID")], element.get("Value")),
                    flag.text if flag is not None else None,
                )
            row = entry_data(described, entry)
            for item in described.items:
                oid = f"I.{entry.instrument}.{item.name}"
                code = (entry.missing.get(item.name) or {}).get("code")
                assert current.get(oid, (None, None)) == (getattr(row, item.name), code), f"{subject.subject_code} {oid}"
                compared += 1
    return compared


def test_the_odm_read_back_equals_the_database_for_every_item_of_the_subjects(trial, tmp_path):
    root = _export(tmp_path, trial["manager"]).getroot()
    assert {element.get("SubjectKey") for element in root.iter(f"{NS}SubjectData")} == {subject.subject_code for subject in trial["subjects"]}
    assert _compare_with_the_database(root, trial["subjects"]) > 200


@pytest.mark.parametrize("study_code", ["angel-icas", "defiance", "defier", "leg-deb", "precise-cal"])
def test_every_study_with_every_form_entered_exports_a_valid_odm_that_reads_back_as_the_database(
    study_code, make_site, make_user, make_subject, clock, tmp_path, schema
):
    site = make_site("HZ01", [study_code])
    manager = make_user("dm@example.org", [(study_code, site, Role.DATA_MANAGER)])
    with clock(datetime(2026, 9, 1, 1)):
        subjects = [make_subject(study_code, site, INDEX, arm=arm.code) for arm in protocols()[study_code].arms]
    with clock(NOW):
        for subject in subjects:
            _enter_every_form(subject, manager)
    path = tmp_path / "study.xml"
    run_export(export_scope(manager, study_code), "odm", path)
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    assert _undefined_references(document.getroot()) == []
    assert _compare_with_the_database(document.getroot(), subjects) > 20


def test_a_changed_value_keeps_its_history_as_audit_records_with_user_site_time_and_reason(trial, tmp_path):
    root = _export(tmp_path, trial["manager"]).getroot()
    subject = root.find(f".//{NS}SubjectData[@SubjectKey='{trial['subjects'][0].subject_code}']")
    form = subject.find(f"{NS}StudyEventData[@StudyEventOID='SE.baseline']/{NS}FormData[@FormOID='F.nihss']")
    history = form.findall(f".//{NS}ItemData[@ItemOID='I.nihss.item_1a']")
    assert [(element.get("TransactionType"), element.get("Value")) for element in history] == [
        ("Insert", str(trial["old_loc"])),
        ("Update", history[-1].get("Value")),
    ]
    assert history[-1].get("Value") != history[0].get("Value")
    record = history[-1].find(f"{NS}AuditRecord")
    assert record.find(f"{NS}UserRef").get("UserOID") == f"USR.{trial['coordinator'].email}"
    assert record.find(f"{NS}LocationRef").get("LocationOID") == "LOC.BJ01"
    assert record.findtext(f"{NS}ReasonForChange") == "typo on paper"
    assert datetime.fromisoformat(record.findtext(f"{NS}DateTimeStamp")) == LATER
    comment = form.findall(f".//{NS}ItemData[@ItemOID='I.nihss.item_9']")[-1]
    assert comment.get("IsNull") == "Yes" and comment.findtext(f"{NS}Annotation/{NS}Comment") == "not asked"
    signature = form.find(f"{NS}Signature")
    assert signature.find(f"{NS}UserRef").get("UserOID") == f"USR.{trial['investigator'].email}"
    assert signature.find(f"{NS}SignatureRef").get("SignatureOID") == "SD.approved"
    assert form.findtext(f"{NS}Annotation/{NS}Flag/{NS}FlagValue") == "verified and signed"
    users = {user.get("OID"): user for user in root.iter(f"{NS}User")}
    assert users[f"USR.{trial['investigator'].email}"].get("UserType") == "Investigator"
    assert users[f"USR.{trial['manager'].email}"].get("UserType") == "Sponsor"


def test_a_snapshot_has_no_audit_record_and_one_item_data_per_item(trial, tmp_path):
    root = _export(tmp_path, trial["manager"], snapshot=True).getroot()
    assert root.find(f".//{NS}AuditRecord") is None
    for group in root.iter(f"{NS}ItemGroupData"):
        oids = [element.get("ItemOID") for element in group.iter(f"{NS}ItemData")]
        assert len(oids) == len(set(oids))
        assert all(element.get("TransactionType") is None for element in group.iter(f"{NS}ItemData"))
    assert root.find(f".//{NS}Signature") is not None


def test_the_blinded_assessors_odm_holds_no_arm_and_only_their_visits_and_forms(trial, tmp_path, schema):
    document = _export(tmp_path, trial["assessor"])
    assert schema.validate(document), schema.error_log
    root = document.getroot()
    arms = {arm.code for arm in protocols()["angel-icas"].arms} | {arm.label for arm in protocols()["angel-icas"].arms}
    for element in root.iter():
        assert not set(element.attrib.values()) & arms, etree.tostring(element)[:200]
        assert (element.text or "").strip() not in arms
        assert "ALLOCATION" not in " ".join(element.attrib.values())
    assert {element.get("OID") for element in root.iter(f"{NS}StudyEventDef")} == {"SE.d90", "SE.SUBJECT"}
    assert {element.get("OID") for element in root.iter(f"{NS}FormDef")} == {"F.mrs", "F.SUBJECT", "F.VISIT"}
    assert {element.get("FormOID") for element in root.iter(f"{NS}FormData")} == {"F.mrs", "F.SUBJECT", "F.VISIT"}
    assert {element.get("StudyEventOID") for element in root.iter(f"{NS}StudyEventData")} == {"SE.d90", "SE.SUBJECT"}
    assert {element.get("SubjectKey") for element in root.iter(f"{NS}SubjectData")} == {s.subject_code for s in trial["subjects"][:2]}


def test_the_data_managers_odm_holds_each_subjects_arm(trial, tmp_path):
    root = _export(tmp_path, trial["manager"]).getroot()
    arms = {subject.get("SubjectKey"): subject.find(f".//{NS}ItemData[@ItemOID='{odm.ARM_ITEM}']").get("Value") for subject in root.iter(f"{NS}SubjectData")}
    assert arms == {subject.subject_code: subject.arm.code for subject in trial["subjects"]}


def test_a_coordinators_odm_holds_only_their_sites(trial, tmp_path):
    root = _export(tmp_path, trial["coordinator"]).getroot()
    assert {element.get("OID") for element in root.iter(f"{NS}Location")} == {"LOC.BJ01"}
    assert {element.get("SubjectKey") for element in root.iter(f"{NS}SubjectData")} == {s.subject_code for s in trial["subjects"][:2]}
    assert {ref.get("LocationOID") for ref in root.iter(f"{NS}LocationRef", f"{NS}SiteRef")} == {"LOC.BJ01"}


def test_the_clinical_data_is_written_in_chunks_of_subjects_with_progress(trial, tmp_path, monkeypatch):
    monkeypatch.setattr(odm, "CHUNK", 1)
    calls: list[tuple[int, int]] = []
    path = tmp_path / "chunked.xml"
    rows = odm.write_odm(export_scope(trial["manager"], "angel-icas"), path, snapshot=False, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 3), (1, 3), (2, 3), (3, 3)]
    root = etree.parse(str(path)).getroot()
    assert [element.get("SubjectKey") for element in root.iter(f"{NS}SubjectData")] == sorted(s.subject_code for s in trial["subjects"])
    own = [form for form in root.iter(f"{NS}FormData") if form.get("FormOID") in ("F.ALLOCATION", "F.SUBJECT", "F.VISIT")]
    assert rows == len(list(root.iter(f"{NS}FormData"))) - len(own)  # the subjects' and visits' own forms are not data rows


def test_flask_ecrf_export_writes_an_odm_file(trial, tmp_path, cli, schema):
    path = tmp_path / "cli.xml"
    result = cli.invoke(args=["ecrf", "export", "angel-icas", "--format", "odm", "--as", "dm@example.org", "--output", str(path), "--snapshot"])
    assert result.exit_code == 0, result.output
    assert schema.validate(etree.parse(str(path)))


def test_the_subjects_dates_and_status_and_each_visits_date_or_missed_mark_are_items_of_their_own_forms(
    make_site, make_user, make_subject, clock, tmp_path, schema
):
    """ODM 1.3.2 has no element for them: a common event SE.SUBJECT holds the consent and index dates and the status,
    and each dated or missed visit's event a form F.VISIT with its date (and deviation reason) or missed mark."""
    site = make_site("HZ01", ["defier"])
    manager = make_user("dm@example.org", [("defier", site, Role.DATA_MANAGER)])
    with clock(datetime(2026, 9, 1, 1)):
        subject = make_subject("defier", site, INDEX, consent_date=date(2026, 8, 30))
    with clock(NOW):
        visits = {visit.definition.code: visit for visit in subject.visits}
        late = visits["m1"].window_end + timedelta(days=2)
        record_visit_date(visits["m1"], late, deviation_reason="patient travelling")
        mark_missed(visits["m3"], "patient in hospital elsewhere")
        db.session.commit()
    path = tmp_path / "own.xml"
    run_export(export_scope(manager, "defier"), "odm", path)
    document = etree.parse(str(path))
    assert schema.validate(document), schema.error_log
    assert _undefined_references(document.getroot()) == []
    data = document.getroot().find(f".//{NS}SubjectData")

    def current(event: str, form: str) -> dict[str, str | None]:
        values = {}
        for element in data.findall(f"{NS}StudyEventData[@StudyEventOID='{event}']/{NS}FormData[@FormOID='{form}']//{NS}ItemData"):
            values[element.get("ItemOID").rsplit(".", 1)[1]] = element.get("Value")
        return values

    assert current("SE.SUBJECT", "F.SUBJECT") == {"consent_date": "2026-08-30", "index_date": INDEX.isoformat(), "status": "active"}
    assert current("SE.baseline", "F.VISIT") == {"visit_date": INDEX.isoformat(), "missed": "false"}
    assert current("SE.m1", "F.VISIT") == {"visit_date": late.isoformat(), "deviation_reason": "patient travelling", "missed": "false"}
    assert current("SE.m3", "F.VISIT") == {"missed": "true", "missed_reason": "patient in hospital elsewhere"}
    assert data.find(f"{NS}StudyEventData[@StudyEventOID='SE.m6']") is None  # neither dated nor missed: nothing to say
    history = data.findall(f"{NS}StudyEventData[@StudyEventOID='SE.m1']//{NS}ItemData[@ItemOID='I.VISIT.visit_date']")
    assert [element.get("TransactionType") for element in history] == ["Insert"]
    assert datetime.fromisoformat(history[0].findtext(f"{NS}AuditRecord/{NS}DateTimeStamp")) == NOW
