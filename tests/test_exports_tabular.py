"""The tabular exports (CSV, Stata, SPSS, SAS transport): one zip of datasets and a data dictionary, limited to
what the user may see; every binary file read back equals the CSV; `flask ecrf export` refuses with one line."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from ecrf.auth.models import Role
from ecrf.auth.services import PasswordCheck
from ecrf.crfs.input import EntryInput
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import lock_entries, save_entry, sign_entries, verify_entry
from ecrf.exports.scope import ExportRefused, export_scope
from ecrf.exports.services import run_export
from ecrf.exports.tabular import DICTIONARY_COLUMNS, short_names, write_tabular
from ecrf.extensions import db
from ecrf.queries.services import raise_query
from ecrf.subjects.models import SubjectStatus
from ecrf.subjects.services import end_participation
from ecrf.visits.services import mark_missed, record_visit_date
from tests.test_instrument_declarations import typed_example
from tests.test_instruments_generic import EXAMPLES

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
INDEX = date(2027, 1, 4)
READERS = {"stata": ("dta", pyreadstat.read_dta), "spss": ("sav", pyreadstat.read_sav), "sas": ("xpt", pyreadstat.read_xport)}


def _values(code: str, timezone: str = "Asia/Shanghai", **changes) -> dict:
    described = instrument(code)
    values = {item.name: typed_example(item.kind, EXAMPLES[code].get(item.name, ""), timezone) for item in described.items.entered}
    return {**values, **changes}


def _save(visit, code: str, user, complete: bool = True, missing: dict | None = None, **changes):
    return save_entry(visit, instrument(code), EntryInput(values=_values(code, **changes), missing=missing or {}, complete=complete, by=user), entry=None)


@pytest.fixture
def defier(make_site, make_user, make_subject):
    """DEFIER at SH01 (two subjects) and HZ01 (one): baseline forms in every status, a query, a missed visit with
    its deviation, a visit out of window with its deviation reason, a withdrawn subject."""
    sh01, hz01 = make_site("SH01", ["defier"]), make_site("HZ01", ["defier"], "Asia/Shanghai")
    coordinator = make_user("coordinator@example.org", [("defier", sh01, Role.COORDINATOR)])
    investigator = make_user("investigator@example.org", [("defier", sh01, Role.INVESTIGATOR)], name="Dr Sign")
    monitor = make_user("monitor@example.org", [("defier", sh01, Role.MONITOR)])
    manager = make_user("dm@example.org", [("defier", sh01, Role.DATA_MANAGER), ("defier", hz01, Role.DATA_MANAGER)])
    subjects = [make_subject("defier", sh01, INDEX, arm="dcb"), make_subject("defier", sh01, INDEX, arm="des"), make_subject("defier", hz01, INDEX)]
    first, second, third = subjects
    baseline = first.visits[0]
    record_visit_date(baseline, baseline.target_date, by=coordinator)
    abi = _save(baseline, "abi", coordinator, missing={"dp_left": {"code": "not_done", "reason": "no probe"}}, dp_left=None)
    history = _save(baseline, "medical_history", coordinator)
    rutherford = _save(baseline, "rutherford", coordinator, complete=False)
    _save(baseline, "adverse_events", coordinator)
    _save(baseline, "adverse_events", coordinator)
    verify_entry(abi, monitor)
    sign_entries([(abi, instrument("abi")), (history, instrument("medical_history"))], investigator, PasswordCheck(ok=True))
    lock_entries([abi], manager)
    raise_query(rutherford, "category", "Is the category right?", monitor)
    m1 = first.visits[1]
    record_visit_date(m1, m1.window_end + timedelta(days=2), by=coordinator, deviation_reason="patient travelling")
    mark_missed(second.visits[1], "patient unwell", by=coordinator)
    end_participation(third, SubjectStatus.WITHDRAWN, date(2027, 2, 1), "withdrew consent", by=coordinator)
    db.session.commit()
    return {"sh01": sh01, "hz01": hz01, "coordinator": coordinator, "manager": manager, "monitor": monitor, "subjects": subjects}


def _export(user, study: str, fmt: str, path: Path, sites: list[str] | None = None) -> zipfile.ZipFile:
    run_export(export_scope(user, study, sites), fmt, path)
    return zipfile.ZipFile(path)


def _csv(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8", newline="")))


def _dictionary(archive: zipfile.ZipFile) -> list[dict[str, str]]:
    return _csv(archive, "dictionary.csv")


def test_a_data_managers_csv_holds_every_dataset_and_a_dictionary_row_for_each_column(defier, tmp_path):
    archive = _export(defier["manager"], "defier", "csv", tmp_path / "out.zip")
    names = set(archive.namelist())
    assert {"subjects.csv", "visits.csv", "queries.csv", "deviations.csv", "dictionary.csv", "abi.csv", "medical_history.csv", "duplex.csv"} <= names
    dictionary = _dictionary(archive)
    assert list(dictionary[0]) == list(DICTIONARY_COLUMNS)
    for name in names - {"dictionary.csv"}:
        dataset = name.removesuffix(".csv")
        header = next(csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))
        assert [row["variable"] for row in dictionary if row["dataset"] == dataset] == header, dataset
        assert all(len(column) <= 32 for column in header)
    xpt_names = [(row["dataset"], row["xpt_name"]) for row in dictionary]
    assert all(len(short) <= 8 for _, short in xpt_names) and len(set(xpt_names)) == len(xpt_names)

    subjects = _csv(archive, "subjects.csv")
    assert [(s["site"], s["arm"]) for s in subjects] == [("HZ01", "dcb"), ("SH01", "dcb"), ("SH01", "des")]
    withdrawn = subjects[0]
    assert (withdrawn["status"], withdrawn["status_date"], withdrawn["status_reason"]) == ("withdrawn", "2027-02-01", "withdrew consent")

    abi = _csv(archive, "abi.csv")
    assert len(abi) == 1
    row = abi[0]
    assert (row["visit"], row["visit_date"], row["window_status"], row["form_status"]) == ("baseline", INDEX.isoformat(), "completed in window", "locked")
    assert (row["brachial_right"], row["dp_left"], row["dp_left_mc"], row["pt_right_mc"]) == ("140", "", "not_done", "")
    assert row["abi_right"] == "0.86", "derived values are exported"
    assert {r["variable"]: r["derived"] for r in dictionary if r["dataset"] == "abi"}["abi_right"].startswith("from ")
    statuses = {name: _csv(archive, f"{name}.csv")[0]["form_status"] for name in ("medical_history", "rutherford")}
    assert statuses == {"medical_history": "signed", "rutherford": "draft"}
    events = _csv(archive, "adverse_events.csv")
    assert [e["entry"] for e in events] == ["1", "2"]

    visits = {(v["subject"], v["visit"]): v for v in _csv(archive, "visits.csv")}
    first, second, third = (s.subject_code for s in defier["subjects"])
    late = visits[(first, "m1")]
    assert (late["window_status"], late["deviation_reason"]) == ("completed out of window", "patient travelling")
    missed = visits[(second, "m1")]
    assert (missed["window_status"], missed["missed"], missed["missed_reason"]) == ("missed", "1", "patient unwell")
    assert visits[(third, "m6")]["window_status"] == "not applicable"
    queries = _csv(archive, "queries.csv")
    assert [(q["subject"], q["instrument"], q["item"], q["status"], q["question"]) for q in queries] == [
        (first, "rutherford", "category", "open", "Is the category right?")
    ]
    kinds = sorted(d["kind"] for d in _csv(archive, "deviations.csv"))
    assert kinds == ["missed_visit", "visit_out_of_window"]


def test_a_coordinators_export_holds_only_their_sites(defier, tmp_path):
    archive = _export(defier["coordinator"], "defier", "csv", tmp_path / "out.zip")
    codes = {s.subject_code for s in defier["subjects"] if s.site.code == "SH01"}
    for name in archive.namelist():
        if name == "dictionary.csv":
            continue
        rows = _csv(archive, name)
        assert {row["site"] for row in rows} <= {"SH01"}, name
        assert {row["subject"] for row in rows} <= codes, name
    assert "HZ01" not in archive.read("subjects.csv").decode()
    with pytest.raises(ExportRefused, match="may not export DEFIER data of site HZ01"):
        export_scope(defier["coordinator"], "defier", ["HZ01"])


@pytest.fixture
def angel(make_site, make_user, make_subject):
    """ANGEL-ICAS at BJ01: two subjects, one per arm, the procedure form (its rescue treatment is the arm) and the
    blinded assessor's 90-day mRS entered; a query on the procedure form."""
    site = make_site("BJ01", ["angel-icas"])
    coordinator = make_user("c@example.org", [("angel-icas", site, Role.COORDINATOR)])
    assessor = make_user("assessor@example.org", [("angel-icas", site, Role.BLINDED_ASSESSOR)])
    monitor = make_user("m@example.org", [("angel-icas", site, Role.MONITOR)])
    index = date(2027, 1, 4)
    subjects = [make_subject("angel-icas", site, index, arm=arm, index_time=time(9, 0)) for arm in ("balloon", "stent")]
    for subject in subjects:
        baseline, d90 = subject.visits[0], next(v for v in subject.visits if v.definition.code == "d90")
        procedure = _save(baseline, "procedure_stroke", coordinator, complete=False, rescue_treatment=subject.arm.code)
        raise_query(procedure, "rescue_treatment", f"Was it really {subject.arm.code}?", monitor)
        record_visit_date(d90, d90.target_date, by=assessor)
        _save(d90, "mrs", assessor, score=2, method="in_person", assessor_blinded=True)
    db.session.commit()
    return site, assessor, coordinator, subjects


@pytest.mark.parametrize("fmt", ["csv", "stata", "spss", "sas"])
def test_the_blinded_angel_icas_export_holds_no_arm_anywhere(angel, fmt, tmp_path):
    _, assessor, _, subjects = angel
    archive = _export(assessor, "angel-icas", fmt, tmp_path / "out.zip")
    ext = {"csv": "csv", "stata": "dta", "spss": "sav", "sas": "xpt"}[fmt]
    assert sorted(archive.namelist()) == sorted([f"{name}.{ext}" for name in ("mrs", "subjects", "visits", "queries", "deviations")] + ["dictionary.csv"])
    dictionary = _dictionary(archive)
    assert "arm" not in {row["variable"] for row in dictionary}
    assert {row["dataset"] for row in dictionary if row["instrument"]} == {"mrs"}
    for name in archive.namelist():
        content = archive.read(name).lower()
        for word in (b"balloon", b"stent", b"angioplasty"):
            assert word not in content, f"{word!r} in {name}"
    if fmt == "csv":
        assert {row["visit"] for row in _csv(archive, "visits.csv")} == {"d90"}
        assert [row["score"] for row in _csv(archive, "mrs.csv")] == ["2", "2"]
        assert _csv(archive, "queries.csv") == []


def test_the_unblinded_coordinator_of_the_same_study_gets_the_arm(angel, tmp_path):
    _, _, coordinator, _ = angel
    archive = _export(coordinator, "angel-icas", "csv", tmp_path / "out.zip")
    assert [row["arm"] for row in _csv(archive, "subjects.csv")] == ["balloon", "stent"]
    assert "procedure_stroke.csv" in archive.namelist()


def _as_csv_text(value, storage: str) -> str:
    """A value read back by pyreadstat, as the CSV writes it."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if storage == "number":
        return repr(float(value))
    if storage == "datetime":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if storage == "date":
        return value.isoformat()
    return str(value)


def _csv_number(text: str) -> str:
    return repr(float(text)) if text else ""


@pytest.mark.parametrize("fmt", ["stata", "spss", "sas"])
def test_each_binary_dataset_read_back_equals_the_csv(defier, fmt, tmp_path):
    manager = defier["manager"]
    as_csv = _export(manager, "defier", "csv", tmp_path / "csv.zip")
    binary = _export(manager, "defier", fmt, tmp_path / f"{fmt}.zip")
    ext, read = READERS[fmt]
    dictionary = _dictionary(as_csv)
    assert _dictionary(binary) == dictionary
    kinds = {"integer": "number", "decimal": "number", "graded": "number", "yes_no": "number", "tick": "number", "date": "date", "datetime": "datetime"}
    datasets = [name.removesuffix(".csv") for name in as_csv.namelist() if name != "dictionary.csv"]
    assert sorted(f"{name}.{ext}" for name in datasets) == sorted(name for name in binary.namelist() if name != "dictionary.csv")
    for dataset in datasets:
        columns = [row for row in dictionary if row["dataset"] == dataset]
        expected = _csv(as_csv, f"{dataset}.csv")
        target = tmp_path / f"{dataset}.{ext}"
        target.write_bytes(binary.read(f"{dataset}.{ext}"))
        frame, meta = read(str(target))
        names = [row["xpt_name"] if fmt == "sas" else row["variable"] for row in columns]
        assert list(frame.columns) == names, dataset
        assert len(frame) == len(expected), dataset
        for column, name in zip(columns, names, strict=True):
            storage = kinds.get(column["type"], "text")
            got = [_as_csv_text(value, storage) for value in frame[name].tolist()]
            want = [_csv_number(row[column["variable"]]) if storage == "number" else row[column["variable"]] for row in expected]
            assert got == want, f"{dataset}.{column['variable']}"
        labels = dict(zip(names, meta.column_labels, strict=True))
        limit = {"stata": 80, "sas": 40}.get(fmt)
        assert [labels[name] for name in names] == [column["label"][:limit].rstrip() for column in columns], dataset
    if fmt != "sas":
        frame, meta = read(str(tmp_path / f"visits.{ext}"))
        assert meta.variable_value_labels["missed"] == {1: "Yes", 0: "No"}


def test_short_names_are_unique_stable_and_keep_names_that_fit():
    names = ["brachial_right", "brachial_left", "brachial", "pt_right", "brachial_right_mc"]
    assert short_names(names, 8) == ["brachia1", "brachia2", "brachial", "pt_right", "brachia3"]
    assert short_names(names, 8) == short_names(list(names), 8)


def test_progress_is_reported_up_to_the_rows_written(defier, tmp_path):
    calls: list[tuple[int, int]] = []
    result = run_export(export_scope(defier["manager"], "defier"), "csv", tmp_path / "out.zip", progress=lambda done, total: calls.append((done, total)))
    assert calls[0][0] == 0 and calls[-1] == (result.rows, result.rows)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


# -- the command -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["nosuch", "--format", "csv", "--as", "dm@example.org"], "unknown study 'nosuch'"),
        (["defier", "--format", "xlsx", "--as", "dm@example.org"], "unknown format 'xlsx'"),
        (["defier", "--format", "csv", "--as", "nobody@example.org"], "no active user 'nobody@example.org'"),
        (["defier", "--format", "csv", "--as", "outsider@example.org"], "outsider@example.org may not export DEFIER data"),
        (["defier", "--format", "csv", "--as", "coordinator@example.org", "--site", "HZ01"], "may not export DEFIER data of site HZ01"),
    ],
)
def test_the_command_refuses_a_bad_study_format_user_or_right_with_one_line(defier, make_user, cli, tmp_path, arguments, message):
    make_user("outsider@example.org")
    result = cli.invoke(args=["ecrf", "export", *arguments, "--output", str(tmp_path / "out.zip")])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "out.zip").exists()


def test_the_command_writes_the_zip_and_says_rows_and_hash(defier, cli, tmp_path):
    output = tmp_path / "out.zip"
    result = cli.invoke(args=["ecrf", "export", "defier", "--format", "spss", "--as", "dm@example.org", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert "sha256" in result.output and "subjects.sav" in zipfile.ZipFile(output).namelist()


def test_the_blinded_dictionary_lists_only_the_assessors_visits(angel, tmp_path):
    _, assessor, _, _ = angel
    archive = _export(assessor, "angel-icas", "csv", tmp_path / "out.zip")
    visit_codes = {row["codes"] for row in _dictionary(archive) if row["variable"] == "visit"}
    assert visit_codes == {"d90=90 days (mRS by blinded assessor)"}


@pytest.mark.parametrize("fmt", ["stata", "spss", "sas"])
def test_a_binary_dataset_longer_than_a_part_is_written_in_parts_that_append_to_the_whole(defier, fmt, tmp_path):
    scope = export_scope(defier["manager"], "defier")
    whole = tmp_path / "whole.zip"
    write_tabular(scope, fmt, whole, progress=lambda done, total: None)
    in_parts = tmp_path / "parts.zip"
    write_tabular(scope, fmt, in_parts, progress=lambda done, total: None, part_rows=2)
    ext, read = READERS[fmt]

    def frame(archive: zipfile.ZipFile, name: str) -> pd.DataFrame:
        target = tmp_path / name
        target.write_bytes(archive.read(name))
        return read(str(target))[0]

    with zipfile.ZipFile(whole) as one, zipfile.ZipFile(in_parts) as split:
        assert split.read("dictionary.csv") == one.read("dictionary.csv")
        split_names = set(split.namelist())
        for name in one.namelist():
            if name == "dictionary.csv":
                continue
            expected = frame(one, name)
            dataset = name.removesuffix(f".{ext}")
            parts = sorted((n for n in split_names if n.startswith(f"{dataset}_part")), key=lambda n: int(n.removesuffix(f".{ext}").rsplit("part", 1)[1]))
            if len(expected) <= 2:
                assert name in split_names and not parts, name  # short enough: one file, as without parts
                continue
            assert name not in split_names and len(parts) == math.ceil(len(expected) / 2), name
            appended = pd.concat([frame(split, part) for part in parts], ignore_index=True)
            pd.testing.assert_frame_equal(appended, expected, check_dtype=False, check_categorical=False)
