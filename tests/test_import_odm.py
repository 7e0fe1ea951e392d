"""`flask ecrf import-odm`: a CDISC ODM 1.3.2 file's ClinicalData into a study, all or nothing.

The demo (a small one, with a correction, a missing-data code, a withdrawal and a missed visit added) is loaded into
another instance, on its own SQLite database, and exported as ODM once for the module. Each test imports into the
test database, empty but for the protocols, the demo's sites and users (as a second instance would be set up), and
rolled back at the end: the round trip gives back the same ClinicalData; a second run changes nothing; a dry run
writes nothing; a file the schema refuses, unknown OIDs or values the forms refuse import nothing and are all listed;
a foreign EDC's file comes in through a mapping file, whose mistakes are named by file, key and reason.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask_migrate import upgrade
from lxml import etree
from sqlalchemy import func, select

from ecrf import create_app, demo
from ecrf.audit.models import AuditEvent
from ecrf.audit.trail import set_actor
from ecrf.auth.models import Role, User
from ecrf.clock import site_today
from ecrf.crfs.input import EntryInput
from ecrf.crfs.items import Kind
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import entered_values, entry_data, save_entry
from ecrf.exports import odm
from ecrf.exports.scope import export_scope
from ecrf.exports.services import run_export
from ecrf.extensions import db
from ecrf.imports import cli as import_cli
from ecrf.imports.reading import load_schema
from ecrf.imports.services import import_odm
from ecrf.imports.values import typed
from ecrf.protocols import protocol_files
from ecrf.studies.models import Site
from ecrf.studies.services import sync_protocols
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.subjects.services import end_participation
from ecrf.visits.models import Visit
from ecrf.visits.services import mark_missed
from tests.conftest import REQUIRE_REAL_PARTS

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "odm-1.3.2"
DATA = Path(__file__).resolve().parent / "data"
STUDIES = ("defier", "angel-icas", "leg-deb", "defiance", "precise-cal")
NS = f"{{{odm.NS}}}"
MANAGER = "datamanager@example.org"
#: Form statuses an import keeps as history only: the form comes in complete.
MARKS = ("source-verified", "signed", "verified and signed", "locked")

pytestmark = pytest.mark.skipif(not (SCHEMA_DIR / "ODM1-3-2.xsd").is_file() and not REQUIRE_REAL_PARTS, reason="../shared/odm-1.3.2 is missing")


def _corrections() -> None:
    """What the demo never does: a complete ABI changed with a reason (one pressure now not done, with its reason),
    a subject withdrawn, a visit missed."""
    coordinator = db.session.scalar(select(User).where(User.email == "coordinator@example.org"))
    set_actor(db.session(), coordinator)
    item = instrument("abi")
    for entry in db.session.scalars(select(CrfEntry).where(CrfEntry.instrument == "abi", CrfEntry.status == EntryStatus.COMPLETE).order_by(CrfEntry.id)):
        values = entered_values(item, entry_data(item, entry))
        if None not in (values["brachial_right"], values["brachial_left"], values["pt_right"]) and not values["pt_right_finding"]:
            changed = {**values, "brachial_right": values["brachial_left"], "pt_right": None}
            missing = {**entry.missing, "pt_right": {"code": "not_done", "reason": "probe unavailable"}}
            entered = EntryInput(changed, missing, complete=True, by=coordinator, version_seen=entry.version, reason="transcription error")
            save_entry(entry.visit, item, entered, entry=entry)
            db.session.commit()  # the reason for change goes with this transaction's changes only
            break
    else:
        raise AssertionError("no ABI to correct")
    subjects = db.session.scalars(select(Subject).where(Subject.status == SubjectStatus.ACTIVE).order_by(Subject.id)).all()
    leaving = next(subject for subject in subjects if subject.study.code == "defiance" and subject.index_date < site_today(subject.site) - timedelta(days=40))
    end_participation(leaving, SubjectStatus.WITHDRAWN, leaving.index_date + timedelta(days=30), "Synthetic: withdrew consent.", by=coordinator)
    due = next(
        visit
        for subject in subjects
        if subject.status is SubjectStatus.ACTIVE
        for visit in subject.visits
        if visit.may_be_marked_missed(site_today(subject.site)) and not db.session.scalar(select(CrfEntry.id).where(CrfEntry.visit_id == visit.id).limit(1))
    )
    mark_missed(due, "Synthetic: patient could not come.", by=coordinator)
    set_actor(db.session(), None)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> dict[str, Path]:
    """Another instance on its own SQLite database: a small demo (3 subjects per study and site) and `_corrections`,
    exported as ODM with its history by the demo's data manager, one file per study."""
    folder = tmp_path_factory.mktemp("source")
    other = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'source.sqlite3'}", "ECRF_EXPORT_DIR": str(folder)})
    files = {}
    with other.app_context(), pytest.MonkeyPatch.context() as patch:
        upgrade()
        sync_protocols(protocol_files())
        patch.setattr(demo, "QUOTAS", dict.fromkeys(demo.QUOTAS, 3))
        demo.load_demo()
        _corrections()
        db.session.commit()
        manager = db.session.scalar(select(User).where(User.email == MANAGER))
        for code in STUDIES:
            files[code] = folder / f"{code}.xml"
            run_export(export_scope(manager, code), "odm", files[code])
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return files


@pytest.fixture
def target(monkeypatch) -> User:
    """This instance as set up to receive the files: the protocols, the demo's sites and users, no subject."""
    monkeypatch.setattr(demo, "QUOTAS", dict.fromkeys(demo.QUOTAS, 0))
    demo.load_demo()
    db.session.commit()
    return db.session.scalar(select(User).where(User.email == MANAGER))


def _import(cli, study: str, path: Path, *options: str, email: str = MANAGER):
    return cli.invoke(args=["ecrf", "import-odm", study, str(path), "--as", email, *options])


def _rows() -> dict[str, int]:
    """The number of rows of every table (the audit trail's too)."""
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables}


def _clinical(path: Path, marks_as_history: bool = False) -> dict[str, bytes]:
    """Each SubjectData of the file, canonical (C14N); `marks_as_history`: as an import keeps a form's verification,
    signature and lock (history only: the form is complete, without Signature)."""
    root = etree.parse(str(path)).getroot()
    if marks_as_history:
        for signature in list(root.iter(f"{NS}Signature")):
            signature.getparent().remove(signature)
        for flag in root.iter(f"{NS}FlagValue"):
            if flag.get("CodeListOID") == odm.STATUS_CODELIST and flag.text in MARKS:
                flag.text = "complete"
    return {subject.get("SubjectKey"): etree.tostring(subject, method="c14n") for subject in root.iter(f"{NS}SubjectData")}


def _subject_keys(path: Path) -> list[str]:
    return [subject.get("SubjectKey") for subject in etree.parse(str(path)).getroot().iter(f"{NS}SubjectData")]


def test_the_demo_exported_as_odm_imports_into_an_empty_instance_and_exports_again_with_the_same_clinical_data(source, target, cli, tmp_path):
    """Values, missing-data codes, visit dates, arms, statuses and every AuditRecord (user, site, time, reason) come
    back; verification, signatures and locks come back as history only (the forms are complete here)."""
    schema = load_schema(SCHEMA_DIR)
    marked = signatures = 0
    start = db.session.scalar(select(func.max(AuditEvent.id))) or 0  # the trail outlives other tests' data
    for code in STUDIES:
        result = _import(cli, code, source[code])
        assert result.exit_code == 0, result.output
        assert "imported" in result.output
        again = tmp_path / f"{code}.xml"
        run_export(export_scope(target, code), "odm", again)
        assert schema.validate(etree.parse(str(again))), schema.error_log
        before, after = _clinical(source[code], marks_as_history=True), _clinical(again)
        assert list(before) == list(after) and before
        for key in before:
            assert before[key] == after[key], key
        assert _clinical(again, marks_as_history=True) == after  # nothing here is verified, signed or locked
        root = etree.parse(str(source[code])).getroot()
        marked += sum(flag.text in MARKS for flag in root.iter(f"{NS}FlagValue"))
        signatures += len(list(root.iter(f"{NS}Signature")))
    assert marked and signatures
    imported = db.session.scalars(select(AuditEvent).where(AuditEvent.id > start, AuditEvent.action == odm.IMPORTED)).all()
    kept = [event.field for event in imported if event.object_type == "crf_entries"]
    assert (kept.count("signature"), kept.count("status")) == (signatures, marked)
    corrected = [event for event in imported if event.reason == "transcription error"]
    assert {"brachial_right", "pt_right", "missing"} <= {event.field for event in corrected} <= {item.name for item in instrument("abi").items} | {"missing"}
    assert all(event.user_email == "coordinator@example.org" and event.at < corrected[0].at + timedelta(seconds=2) for event in corrected)
    # The file's people are names only: no imported row is tied to an account here (a file cannot write history of
    # someone's account); only the import's own note of each form's status is the importing user's.
    notes = [event for event in imported if (event.object_type, event.field) == ("crf_entries", "status")]
    assert {event.user_id for event in imported if event not in notes} == {None}
    assert {event.user_id for event in notes} == {target.id}
    assert db.session.scalar(select(Subject.status).where(Subject.status == SubjectStatus.WITHDRAWN)) is not None
    assert db.session.scalar(select(func.count(Visit.id)).where(Visit.missed.is_(True))) == 1
    own = db.session.scalars(
        select(AuditEvent.via).where(AuditEvent.id > start, AuditEvent.action.in_(("create", "update")), AuditEvent.subject_id.is_not(None)).distinct()
    ).all()
    assert set(own) == {f"{odm.IMPORT_VIA}{code}.xml" for code in STUDIES}  # the import's own writes name their way in


def test_a_second_run_of_the_same_file_changes_nothing(source, target, cli):
    assert _import(cli, "leg-deb", source["leg-deb"]).exit_code == 0
    before = _rows()
    result = _import(cli, "leg-deb", source["leg-deb"])
    assert result.exit_code == 0, result.output
    assert "nothing to import" in result.output
    assert _rows() == before


def test_a_dry_run_checks_everything_says_what_it_would_import_and_writes_nothing(source, target, cli):
    before = _rows()
    result = _import(cli, "defier", source["defier"], "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and "would import" in result.output and f"subjects enrolled: {len(_subject_keys(source['defier']))}" in result.output
    assert _rows() == before


def _edited(source: Path, tmp_path: Path, edit) -> Path:
    tree = etree.parse(str(source))
    edit(tree.getroot())
    path = tmp_path / source.name
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")
    return path


def test_a_file_the_odm_schema_refuses_imports_nothing_and_says_where(source, target, cli, tmp_path):
    def edit(root):
        subject = root.find(f".//{NS}SubjectData")
        del subject.attrib["SubjectKey"]
        subject.find(f"{NS}StudyEventData").set("Colour", "blue")

    before = _rows()
    result = _import(cli, "leg-deb", _edited(source["leg-deb"], tmp_path, edit))
    assert result.exit_code == 1
    assert "not valid ODM 1.3.2 (2 errors); nothing was imported" in result.output
    assert "SubjectKey" in result.output and "Colour" in result.output and "line " in result.output
    assert _rows() == before


def test_a_schema_error_after_the_subjects_imports_none_of_them(source, target, cli, tmp_path):
    """The schema is checked as the file streams by: subjects read before an error are written in the transaction the
    error then rolls back."""

    def edit(root):
        root.append(etree.Element(f"{NS}Colour"))

    before = _rows()
    result = _import(cli, "leg-deb", _edited(source["leg-deb"], tmp_path, edit))
    assert result.exit_code == 1
    assert "not valid ODM 1.3.2 (1 errors); nothing was imported" in result.output and "Colour" in result.output
    assert _rows() == before


def test_a_file_that_is_not_well_formed_xml_is_refused_at_the_line_it_breaks(source, target, cli, tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text(
        (DATA / "foreign_edc.xml").read_text(encoding="utf-8").replace('<ItemData ItemOID="IT_BRA_L" Value="130"/>', '<ItemData ItemOID="IT_BRA_L">')
    )
    result = _import(cli, "leg-deb", path)
    assert result.exit_code == 1
    assert "line 66: Opening and ending tag mismatch: ItemData line 57 and ItemGroupData" in result.output


def test_a_file_with_very_many_schema_errors_lists_the_first_hundred_and_is_read_no_further(source, target, cli, tmp_path):
    pretty = tmp_path / "pretty.xml"
    etree.parse(str(source["leg-deb"])).write(str(pretty), pretty_print=True)

    def edit(root):
        for item in root.iter(f"{NS}ItemData"):
            item.set("Colour", "blue")

    result = _import(cli, "leg-deb", _edited(pretty, tmp_path, edit))
    assert result.exit_code == 1
    assert "not valid ODM 1.3.2 (100 errors by line " in result.output and ", where it was read no further); nothing was imported" in result.output
    assert result.output.count("The attribute 'Colour' is not allowed") == 100


def test_every_unknown_oid_is_listed_and_nothing_is_imported(source, target, cli, tmp_path):
    def edit(root):
        subjects = list(root.iter(f"{NS}SubjectData"))
        subjects[0].find(f".//{NS}ItemData[@ItemOID='I.abi.pt_left']").set("ItemOID", "I.abi.pt_middle")
        subjects[1].find(f".//{NS}FormData[@FormOID='F.rutherford']").set("FormOID", "F.fontaine")
        subjects[2].find(f"{NS}StudyEventData[@StudyEventOID='SE.baseline']").set("StudyEventOID", "SE.screening")
        subjects[3].find(f"{NS}SiteRef").set("LocationOID", "LOC.XX99")

    before = _rows()
    result = _import(cli, "leg-deb", _edited(source["leg-deb"], tmp_path, edit))
    assert result.exit_code == 1, result.output
    assert "4 unknown OIDs" in result.output and "nothing was imported" in result.output
    for kind, oid in (("ItemOID", "I.abi.pt_middle"), ("FormOID", "F.fontaine"), ("StudyEventOID", "SE.screening"), ("LocationOID", "LOC.XX99")):
        assert f"unknown {kind} {oid}" in result.output
    assert _rows() == before


def _current(root, key: str, event: str, oid: str):
    """The current state (last ItemData) of an item of a subject's event."""
    subject = root.find(f".//{NS}SubjectData[@SubjectKey='{key}']")
    return subject.findall(f"{NS}StudyEventData[@StudyEventOID='{event}']//{NS}ItemData[@ItemOID='{oid}']")[-1]


def test_each_value_the_forms_refuse_is_listed_by_subject_visit_form_and_item_and_nothing_is_imported(source, target, cli, tmp_path):
    keys = _subject_keys(source["leg-deb"])

    def edit(root):
        _current(root, keys[0], "SE.baseline", "I.rutherford.category").set("Value", "9")
        _current(root, keys[1], "SE.baseline", "I.abi.target_limb").set("Value", "middle")
        _current(root, keys[2], "SE.SUBJECT", "I.SUBJECT.consent_date").set("Value", "2099-01-01")

    before = _rows()
    result = _import(cli, "leg-deb", _edited(source["leg-deb"], tmp_path, edit))
    assert result.exit_code == 1, result.output
    assert "nothing was imported" in result.output
    lines = result.output.splitlines()
    assert any(line.strip().startswith(f"{keys[0]} baseline rutherford category = '9': Rutherford category: choose a grade from 0 to 6") for line in lines)
    assert any(line.strip().startswith(f"{keys[1]} baseline abi target_limb = 'middle': Target limb: choose one of Right, Left") for line in lines)
    assert any(line.strip().startswith(f"{keys[2]} SUBJECT consent_date") and "Informed consent date" in line for line in lines), result.output
    assert _rows() == before


def test_values_are_read_as_xml_schema_writes_them_and_what_the_form_would_not_keep_is_listed(source, target, cli, tmp_path):
    """One reading of ODM values (`ecrf.imports.values`): a tick neither true nor false, a date in another ISO 8601
    spelling and an instant with a fraction of a second (which the form, as for the API, refuses rather than cut) are
    each listed; nothing is imported."""
    found = {}

    def edit(root):
        peak = next(item for item in root.iter(f"{NS}ItemData") if item.get("ItemOID") == "I.perioperative_events.ctn_peak_at" and item.get("Value"))
        form = peak.getparent().getparent()
        peak = form.findall(f".//{NS}ItemData[@ItemOID='I.perioperative_events.ctn_peak_at']")[-1]  # the current value
        peak.set("Value", peak.get("Value").replace("+00:00", ".25+00:00"))
        tick = root.findall(f".//{NS}ItemData[@ItemOID='I.procedure_coronary.modification_ivl']")[-1]
        tick.set("Value", "maybe")
        visit_date = root.findall(f".//{NS}ItemData[@ItemOID='I.VISIT.visit_date']")[-1]
        visit_date.set("Value", visit_date.get("Value").replace("-", ""))
        found.update(peak=peak.get("Value"), date=visit_date.get("Value"))

    before = _rows()
    result = _import(cli, "precise-cal", _edited(source["precise-cal"], tmp_path, edit))
    assert result.exit_code == 1, result.output
    assert "nothing was imported" in result.output
    assert (
        f"perioperative_events ctn_peak_at = '{found['peak']}': Troponin (cTn): post-PCI peak sampled at: not a valid date and time: fractions of a second are not kept"
        in result.output
    )
    assert (
        "procedure_coronary modification_ivl = 'maybe': Calcium modification: intravascular lithotripsy (IVL): not valid; 'maybe' is not true or false"
        in result.output
    )
    assert f"VISIT visit_date = '{found['date']}': not a valid visit date: '{found['date']}' is not a date as YYYY-MM-DD" in result.output
    assert _rows() == before


def test_a_subject_already_here_with_other_values_is_a_problem_never_a_change(source, target, cli, tmp_path):
    assert _import(cli, "leg-deb", source["leg-deb"]).exit_code == 0
    key = _subject_keys(source["leg-deb"])[0]

    def edit(root):
        category = _current(root, key, "SE.baseline", "I.rutherford.category")
        category.set("Value", "1" if category.get("Value") != "1" else "2")

    before = _rows()
    result = _import(cli, "leg-deb", _edited(source["leg-deb"], tmp_path, edit))
    assert result.exit_code == 1
    assert f"{key} baseline rutherford category = " in result.output and ": rutherford is here with" in result.output
    assert "an import never changes recorded data" in result.output
    assert _rows() == before


def test_only_a_data_manager_of_the_subjects_site_may_import(source, target, cli):
    result = _import(cli, "leg-deb", source["leg-deb"], email="coordinator@example.org")
    assert result.exit_code == 1
    assert "coordinator@example.org may not import data of LEG-DEB at site" in result.output
    assert _import(cli, "leg-deb", source["leg-deb"], email="nobody@example.org").output.strip() == "Error: no active user 'nobody@example.org'"


def test_a_foreign_edcs_file_comes_in_through_its_mapping_file(make_site, make_user, cli, clock):
    sites = [make_site("IT01", ["leg-deb"], "Europe/Rome", "IT"), make_site("DE01", ["leg-deb"], "Europe/Berlin", "DE")]
    manager = make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    coordinator = make_user("coordinator@example.org", [("leg-deb", sites[0], Role.COORDINATOR)])
    start = db.session.scalar(select(func.max(AuditEvent.id))) or 0  # the trail outlives other tests' data
    with clock(datetime(2027, 1, 15, 9)):
        result = _import(cli, "leg-deb", DATA / "foreign_edc.xml", "--mapping", str(DATA / "foreign_edc_mapping.yaml"))
    assert result.exit_code == 0, result.output
    assert "subjects enrolled: 2" in result.output
    first = db.session.scalar(select(Subject).where(Subject.subject_code == "LDB-IT01-0103"))
    assert (first.site.code, first.consent_date, first.index_date) == ("IT01", date(2026, 3, 1), date(2026, 3, 2))
    assert db.session.scalar(select(Subject.site_id).where(Subject.subject_code == "DE01-007")) == sites[1].id  # kept as given
    visits = {visit.definition.code: visit for visit in first.visits}
    assert visits["m6"].visit_date == date(2026, 9, 1)
    entries = {(entry.visit.definition.code, entry.instrument): entry for entry in db.session.scalars(select(CrfEntry).where(CrfEntry.subject_id == first.id))}
    abi = entries[("baseline", "abi")]
    data = entry_data(instrument("abi"), abi)
    assert (abi.status, data.target_limb, data.brachial_right, data.pt_left) == (EntryStatus.COMPLETE, "right", 132, None)
    assert abi.missing == {"pt_left": {"code": "not_done", "reason": "bandage on the left ankle"}}
    assert data.abi_right is not None  # computed here; their IT_ABI_R is ignored
    assert entries[("m6", "abi")].status is EntryStatus.DRAFT
    assert entry_data(instrument("rutherford"), entries[("baseline", "rutherford")]).limb == "right"
    other = db.session.scalar(select(CrfEntry).join(Subject).where(Subject.subject_code == "DE01-007"))
    assert (entry_data(instrument("rutherford"), other).limb, entry_data(instrument("rutherford"), other).category) == ("left", 2)
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.id > start, AuditEvent.action == odm.IMPORTED, AuditEvent.object_type == "abi_data", AuditEvent.field == "brachial_right")
        .order_by(AuditEvent.id)
    ).all()
    assert [(event.new_value, event.user_id, event.user_email, event.reason) for event in history] == [
        ("128", None, coordinator.email, None),  # named as the mapping says, never tied to the coordinator's account
        ("132", None, "Anna Rossi <a.rossi> (U200, not a user here)", "transcription error"),
    ]
    assert history[1].at == datetime.fromisoformat("2026-03-05T14:30:00+00:00") and history[1].via == "ODM import foreign_edc.xml"
    run = db.session.scalar(select(AuditEvent).where(AuditEvent.id > start, AuditEvent.action == "import"))
    assert run.user_id == manager.id and run.object_id == "leg-deb" and run.new_value.startswith("foreign_edc.xml: subjects enrolled: 2")


def test_imported_history_is_written_in_time_order_when_the_file_lists_an_items_changes_out_of_order(make_site, make_user, cli, clock, tmp_path):
    sites = [make_site("IT01", ["leg-deb"], "Europe/Rome", "IT"), make_site("DE01", ["leg-deb"], "Europe/Berlin", "DE")]
    make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    make_user("coordinator@example.org", [("leg-deb", sites[0], Role.COORDINATOR)])
    text = (DATA / "foreign_edc.xml").read_text(encoding="utf-8")
    first = '<ItemData ItemOID="IT_BRA_R" Value="128" TransactionType="Insert">'
    assert text.count(first) == 1
    head, tail = text.split(first)
    late = tail.replace("2026-03-02T10:00:00Z", "2026-03-06T08:00:00Z", 1)  # its first change, dated after its second
    path = tmp_path / "foreign_edc.xml"
    path.write_text(head + first + late, encoding="utf-8")
    start = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    with clock(datetime(2027, 1, 15, 9)):
        result = _import(cli, "leg-deb", path, "--mapping", str(DATA / "foreign_edc_mapping.yaml"))
    assert result.exit_code == 0, result.output
    rows = db.session.scalars(
        select(AuditEvent).where(AuditEvent.id > start, AuditEvent.action == odm.IMPORTED, AuditEvent.object_type == "abi_data").order_by(AuditEvent.id)
    ).all()
    assert [row.at for row in rows] == sorted(row.at for row in rows)
    assert [row.new_value for row in rows if row.field == "brachial_right"] == ["132", "128"]


def test_the_subjects_history_page_shows_the_imported_history(make_site, make_user, cli, clock, login):
    sites = [make_site("IT01", ["leg-deb"], "Europe/Rome", "IT"), make_site("DE01", ["leg-deb"], "Europe/Berlin", "DE")]
    manager = make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    make_user("coordinator@example.org", [("leg-deb", sites[0], Role.COORDINATOR)])
    with clock(datetime(2027, 1, 15, 9)):
        assert _import(cli, "leg-deb", DATA / "foreign_edc.xml", "--mapping", str(DATA / "foreign_edc_mapping.yaml")).exit_code == 0
    page = login(manager).get("/subjects/LDB-IT01-0103/history").get_data(as_text=True)
    assert "Anna Rossi &lt;a.rossi&gt; (U200, not a user here)" in page and "transcription error" in page and "imported" in page


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("S-DE-01: DE01", "S-DE-01: DE01\n  S-XX: XX01", "acme.yaml: sites.S-XX: 'XX01' is not a site of LEG-DEB; one of DE01, IT01"),
        ("EV_6M: m6", "EV_6M: m6\n  EV_X: m7", "acme.yaml: events.EV_X: 'm7' is no visit of LEG-DEB"),
        ("instrument: rutherford", "instrument: fontaine", "acme.yaml: forms.FRM_RUTH.instrument: 'fontaine' is no form of LEG-DEB"),
        ("IT_RCAT: category", "IT_RCAT: grade", "acme.yaml: forms.FRM_RUTH.items.IT_RCAT: 'grade' is no item of rutherford; one of limb, category, clti"),
        (
            "limb: {R: right, L: left}",
            "limb: {R: right, L: links}",
            "acme.yaml: forms.FRM_RUTH.codes.limb.L: 'links' is not a code of limb; one of right, left",
        ),
        ("U100: coordinator@example.org", "U100: kw@example.org", "acme.yaml: users.U100: no user 'kw@example.org' here"),
        ("codes: {ND: not_done", "codes: {ND: skipped", "acme.yaml: missing.codes.ND: 'skipped' is not a missing-data code"),
        ("ignore: [IT_ABI_R]", "ignore: [IT_ABI_R]\ncolour: blue", "acme.yaml: colour: unknown key"),
    ],
)
def test_a_wrong_mapping_file_is_refused_naming_the_file_the_key_and_the_reason(old, new, message, make_site, make_user, cli, tmp_path):
    sites = [make_site("IT01", ["leg-deb"]), make_site("DE01", ["leg-deb"])]
    make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    make_user("coordinator@example.org")
    text = (DATA / "foreign_edc_mapping.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    result = _import(cli, "leg-deb", DATA / "foreign_edc.xml", "--mapping", str(_mapping(tmp_path, text.replace(old, new))))
    assert result.exit_code == 1
    assert message in result.output
    assert db.session.scalar(select(func.count(Subject.id))) == 0


def test_a_mapping_file_that_is_not_yaml_or_not_a_mapping_says_so(make_site, make_user, cli, tmp_path):
    sites = [make_site("IT01", ["leg-deb"]), make_site("DE01", ["leg-deb"])]
    make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    for text, message in (("study_oid: [unclosed\n", "acme.yaml: cannot be read"), ("- a list\n", "acme.yaml: the file must be a mapping of keys to values")):
        result = _import(cli, "leg-deb", DATA / "foreign_edc.xml", "--mapping", str(_mapping(tmp_path, text)))
        assert result.exit_code == 1 and message in result.output


def test_the_site_counter_follows_an_imported_study_subject_id(make_site, make_user, make_subject, cli, clock):
    sites = [make_site("IT01", ["leg-deb"], "Europe/Rome", "IT"), make_site("DE01", ["leg-deb"], "Europe/Berlin", "DE")]
    make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    make_user("coordinator@example.org")
    with clock(datetime(2027, 1, 15, 9)):
        assert _import(cli, "leg-deb", DATA / "foreign_edc.xml", "--mapping", str(DATA / "foreign_edc_mapping.yaml")).exit_code == 0
        enrolled = make_subject("leg-deb", db.session.get(Site, sites[0].id), date(2027, 1, 10))
    assert enrolled.subject_code == "LDB-IT01-0104"


def test_a_study_subject_id_taken_in_another_study_is_a_problem(make_site, make_user, make_subject, cli, tmp_path, clock):
    sites = [make_site("IT01", ["leg-deb", "defier"], "Europe/Rome", "IT"), make_site("DE01", ["leg-deb"], "Europe/Berlin", "DE")]
    make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    make_user("coordinator@example.org")
    with clock(datetime(2027, 1, 15, 9)):
        taken = make_subject("defier", sites[0], date(2027, 1, 2)).subject_code
        text = (DATA / "foreign_edc_mapping.yaml").read_text(encoding="utf-8").replace("IT01-003: LDB-IT01-0103", f"IT01-003: {taken}")
        result = _import(cli, "leg-deb", DATA / "foreign_edc.xml", "--mapping", str(_mapping(tmp_path, text)))
    assert result.exit_code == 1
    assert f"{taken}: {taken} is a subject of DEFIER at site IT01 here, not of this study at IT01" in result.output
    assert db.session.scalar(select(func.count(Subject.id))) == 1


def _foreign(tmp_path: Path, *changes: tuple[str, str]) -> Path:
    """foreign_edc.xml with each (old, new) text replaced once (each old must be there)."""
    text = (DATA / "foreign_edc.xml").read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "foreign_edc.xml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def foreign(make_site, make_user, cli, clock):
    """LEG-DEB at IT01 and DE01 as foreign_edc_mapping.yaml expects; `foreign(path)` imports a (changed)
    foreign_edc.xml through that mapping on 15 January 2027."""
    sites = [make_site("IT01", ["leg-deb"], "Europe/Rome", "IT"), make_site("DE01", ["leg-deb"], "Europe/Berlin", "DE")]
    make_user(MANAGER, [("leg-deb", site, Role.DATA_MANAGER) for site in sites])
    make_user("coordinator@example.org", [("leg-deb", sites[0], Role.COORDINATOR)])

    def run(path: Path):
        with clock(datetime(2027, 1, 15, 9)):
            return _import(cli, "leg-deb", path, "--mapping", str(DATA / "foreign_edc_mapping.yaml"))

    return run


#: A signature of DE01-007's Rutherford form (no form of the file has one), its time to be filled in.
SIGNED_RUTH = (
    '<FormData FormOID="FRM_RUTH">\n          <ItemGroupData ItemGroupOID="IG_RUTH">\n            <ItemData ItemOID="IT_RLIMB" Value="L"/>',
    '<FormData FormOID="FRM_RUTH"><Signature><UserRef UserOID="U100"/><LocationRef LocationOID="S-DE-01"/><SignatureRef SignatureOID="SIG1"/>'
    "<DateTimeStamp>{at}</DateTimeStamp></Signature>\n"
    '          <ItemGroupData ItemGroupOID="IG_RUTH">\n            <ItemData ItemOID="IT_RLIMB" Value="L"/>',
)


def test_datetimestamps_with_long_fractions_or_24_00_keep_their_history(foreign, tmp_path):
    """Seven fractional digits (as .NET systems write) are cut to microseconds; 24:00:00 is the next day's midnight."""
    path = _foreign(
        tmp_path,
        ("2026-03-05T14:30:00Z", "2026-03-05T14:30:00.1234567Z"),
        (
            '<DateTimeStamp>2026-03-02T10:00:00Z</DateTimeStamp></AuditRecord>\n            </ItemData>\n            <ItemData ItemOID="IT_BRA_R"',
            '<DateTimeStamp>2026-03-01T24:00:00Z</DateTimeStamp></AuditRecord>\n            </ItemData>\n            <ItemData ItemOID="IT_BRA_R"',
        ),
        (SIGNED_RUTH[0], SIGNED_RUTH[1].format(at="2026-05-11T08:00:00.00000019+02:00")),
    )
    start = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    result = foreign(path)
    assert result.exit_code == 0, result.output
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id > start, AuditEvent.action == odm.IMPORTED)).all()
    at = {(row.object_type, row.field, row.new_value): row.at for row in rows}
    assert at[("abi_data", "brachial_right", "132")] == datetime.fromisoformat("2026-03-05T14:30:00.123456+00:00")
    assert at[("abi_data", "target_limb", "right")] == datetime.fromisoformat("2026-03-02T00:00:00+00:00")
    assert at[("crf_entries", "signature", "SIG1")] == datetime.fromisoformat("2026-05-11T06:00:00+00:00")


def test_a_datetimestamp_that_cannot_be_read_is_a_problem_and_nothing_is_imported(foreign, tmp_path):
    """The schema takes a five-digit year; this app cannot hold it: listed, never dropped or dated now."""
    path = _foreign(tmp_path, ("2026-03-05T14:30:00Z", "12026-03-05T14:30:00Z"), (SIGNED_RUTH[0], SIGNED_RUTH[1].format(at="12026-05-11T08:00:00Z")))
    before = _rows()
    result = foreign(path)
    assert result.exit_code == 1, result.output
    assert "nothing was imported" in result.output
    assert (
        "LDB-IT01-0103 baseline abi brachial_right: the AuditRecord's DateTimeStamp cannot be read: '12026-03-05T14:30:00Z' is not a date and time"
        in result.output
    )
    assert "DE01-007 baseline rutherford: the Signature's DateTimeStamp cannot be read: '12026-05-11T08:00:00Z' is not a date and time" in result.output
    assert _rows() == before


def test_dates_and_datetimestamps_out_of_the_years_allowed_are_problems_never_a_crash(source, target, cli, tmp_path):
    """The one year rule (1900 to 2100, `partial_dates.year_problem`) for values and DateTimeStamps: year 1 at the
    site's offset and year 9999 are listed, never an OverflowError nor history dated 9999."""
    study = next(code for code in STUDIES if ".aware_at" in source[code].read_text(encoding="utf-8"))

    def edit(root):
        aware = [item for item in root.iter(f"{NS}ItemData") if item.get("ItemOID", "").endswith(".aware_at") and item.get("Value")][-1]
        aware.set("Value", "0001-01-01T00:00:00")
        stamps = list(root.iter(f"{NS}DateTimeStamp"))
        stamps[0].text, stamps[1].text = "0001-01-01T00:00:00+05:00", "9999-01-01T00:00:00Z"

    before = _rows()
    result = _import(cli, study, _edited(source[study], tmp_path, edit))
    assert result.exit_code == 1, result.output
    assert "nothing was imported" in result.output
    assert "aware_at = '0001-01-01T00:00:00': Date and time the site became aware: the year must be between 1900 and 2100" in result.output
    assert "DateTimeStamp cannot be read: '0001-01-01T00:00:00+05:00': the year must be between 1900 and 2100" in result.output
    assert "DateTimeStamp cannot be read: '9999-01-01T00:00:00Z': the year must be between 1900 and 2100" in result.output
    assert _rows() == before


def test_a_datetimestamp_after_now_is_a_problem(foreign, tmp_path):
    result = foreign(_foreign(tmp_path, ("2026-03-05T14:30:00Z", "2027-01-15T09:00:01Z")))
    assert result.exit_code == 1, result.output
    assert "brachial_right: the AuditRecord's DateTimeStamp cannot be read: '2027-01-15T09:00:01Z' is after now" in result.output


def test_an_unexpected_failure_rolls_the_import_back_and_says_so_in_one_line(foreign, monkeypatch, caplog):
    """A fault of ours (here: one raised after the whole import was written) is rolled back, named in one line with
    exit status 1, and logged with its trace."""

    def failing(*args, **kwargs):
        import_odm(*args, **kwargs)
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(import_cli, "import_odm", failing)
    before = _rows()
    result = foreign(DATA / "foreign_edc.xml")
    assert result.exit_code == 1
    assert result.output.strip() == "Error: foreign_edc.xml: the import failed (RuntimeError: disk on fire); nothing was imported (details in the log)"
    assert _rows() == before
    assert "ODM import of foreign_edc.xml into leg-deb failed" in caplog.text and "second line" in caplog.text


def test_a_form_repeat_key_that_is_no_ascii_number_keeps_the_files_order(source, target, cli, tmp_path):
    """str.isdigit() takes "²", which int() refuses: such a key (no number) leaves the forms in the file's order."""
    study = next(code for code in STUDIES if "FormRepeatKey" in source[code].read_text(encoding="utf-8"))

    def edit(root):
        next(form for form in root.iter(f"{NS}FormData") if form.get("FormRepeatKey")).set("FormRepeatKey", "²")

    result = _import(cli, study, _edited(source[study], tmp_path, edit))
    assert result.exit_code == 0, result.output
    assert "imported subjects enrolled" in result.output


@pytest.mark.parametrize("written", ["1_30", "١٣٠", "NaN", "1.3e2", "+130.0"])
def test_numbers_are_read_as_xml_schema_writes_them_and_others_are_listed(foreign, tmp_path, written):
    """xs:integer and xs:decimal only: Python's int() and Decimal() (and so a form given the text) would take "1_30",
    Arabic-Indic digits, NaN and exponents; each such text, and an integer with a decimal point, is listed."""
    result = foreign(_foreign(tmp_path, ('ItemOID="IT_BRA_R" Value="132"', f'ItemOID="IT_BRA_R" Value="{written}"')))
    assert result.exit_code == 1, result.output
    assert f"LDB-IT01-0103 baseline abi brachial_right = '{written}': " in result.output
    assert f"not valid; '{written}' is not a whole number (digits 0-9, an optional sign)." in result.output


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (" -1.50 ", Decimal("-1.50")),
        ("+.5", Decimal("0.5")),
        ("7.", Decimal("7")),
        ("NaN", None),
        ("1e3", None),
        ("1_0.5", None),
        ("١.٥", None),
        ("Infinity", None),
    ],
)
def test_a_decimal_is_read_in_xml_schemas_spelling_only(written, read):
    if read is None:
        with pytest.raises(ValueError, match="is not a number"):
            typed(Kind.DECIMAL, written)
    else:
        assert typed(Kind.DECIMAL, written) == read
