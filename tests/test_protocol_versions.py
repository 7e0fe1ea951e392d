"""One protocol source at run time: each study runs its LOADED protocol version, stored with its digest.

A protocol file changed on disk is not in force until `flask ecrf load-protocols` loads it, and then it is in
force whole; until then `flask ecrf protocols` and the app's start say the file differs from the loaded version.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from flask_migrate import upgrade
from sqlalchemy import delete, func, select, text

from ecrf import create_app
from ecrf.extensions import db
from ecrf.protocols import ProtocolNotLoaded, load_protocol, protocol_digest, protocol_files, protocol_for, protocols
from ecrf.studies.models import ProtocolVersion, Study, VisitDefinition

PROTOCOL_DIR = Path(__file__).resolve().parent.parent / "ecrf" / "protocols"
INDEX = date(2026, 1, 1)


def _amended(folder: Path, amend) -> Path:
    """A copy of the protocol files in `folder` with defier.yaml changed by `amend(data)`."""
    folder.mkdir()
    for path in PROTOCOL_DIR.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    data = yaml.safe_load((PROTOCOL_DIR / "defier.yaml").read_text())
    amend(data)
    (folder / "defier.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def _wider_m6_and_higher_abi_drop(data: dict) -> None:
    """An amendment: the 6-month window closes 45 days after its target (not 30); an ABI fall of 0.30 (not 0.15) is flagged."""
    next(visit for visit in data["visits"] if visit["code"] == "m6")["days_after"] = 45
    data["safety"]["abi_drop"] = 0.30


def _visit(subject, code: str):
    return next(visit for visit in subject.visits if visit.definition.code == code)


def _versions(code: str) -> int:
    return db.session.scalar(select(func.count(ProtocolVersion.id)).join(Study).where(Study.code == code))


@pytest.fixture
def amended(app, tmp_path, monkeypatch) -> Path:
    """The app's protocol folder, where defier.yaml has been amended on disk (not loaded)."""
    folder = _amended(tmp_path / "protocols", _wider_m6_and_higher_abi_drop)
    monkeypatch.setitem(app.config, "ECRF_PROTOCOL_DIR", str(folder))
    return folder


def test_every_study_runs_its_stored_version_which_is_its_file_as_loaded(app):
    loaded = protocols()
    assert list(loaded) == ["angel-icas", "defiance", "defier", "leg-deb", "precise-cal"]
    for code, protocol in loaded.items():
        study = db.session.scalar(select(Study).where(Study.code == code))
        version = db.session.scalar(select(ProtocolVersion).where(ProtocolVersion.study_id == study.id, ProtocolVersion.sha256 == study.protocol_sha256))
        assert version is not None and version.file_name == f"{code}.yaml", code
        assert protocol == load_protocol(PROTOCOL_DIR / f"{code}.yaml"), code
        assert protocol_digest(protocol) == study.protocol_sha256, code


def test_a_file_changed_on_disk_but_not_loaded_keeps_the_old_rules_in_force(amended, cli, make_site, make_subject):
    assert protocol_files()["defier"].visit("m6").days_after == 45  # the file says so ...
    in_force = protocol_for("defier")  # ... the study runs what was loaded
    assert in_force.visit("m6").days_after == 30 and in_force.safety.abi_drop == Decimal("0.15")
    subject = make_subject("defier", make_site("SH01", ["defier"]), INDEX)
    assert _visit(subject, "m6").window_end == INDEX + timedelta(days=180 + 30)

    listing = cli.invoke(args=["ecrf", "protocols"])
    assert listing.exit_code == 0, listing.output
    lines = {line.split()[0]: line for line in listing.output.splitlines()}
    assert list(lines) == ["angel-icas", "defiance", "defier", "leg-deb", "precise-cal"]
    assert lines["defier"].endswith("changed on disk, not loaded")
    assert [code for code, line in lines.items() if "not loaded" in line] == ["defier"]


def test_loading_the_changed_file_applies_it_whole_as_a_new_version(amended, cli, make_site, make_subject):
    site = make_site("SH01", ["defier"])
    before = make_subject("defier", site, INDEX)
    old_digest = db.session.scalar(select(Study.protocol_sha256).where(Study.code == "defier"))

    result = cli.invoke(args=["ecrf", "load-protocols"])
    assert result.exit_code == 0, result.output
    assert "defier: loaded" in result.output and "defiance: unchanged" in result.output

    db.session.expire_all()
    in_force = protocol_for("defier")
    assert in_force.visit("m6").days_after == 45 and in_force.safety.abi_drop == Decimal("0.3")
    definition = db.session.scalar(select(VisitDefinition).join(Study).where(Study.code == "defier", VisitDefinition.code == "m6"))
    assert definition.days_after == 45
    assert _visit(before, "m6").window_end == INDEX + timedelta(days=210)  # a visit already scheduled keeps its window
    after = make_subject("defier", site, INDEX)
    assert _visit(after, "m6").window_end == INDEX + timedelta(days=225)
    assert _versions("defier") == 2  # the old version is kept: data entered before were collected under it
    assert db.session.scalar(select(ProtocolVersion.id).where(ProtocolVersion.sha256 == old_digest)) is not None
    assert "not loaded" not in cli.invoke(args=["ecrf", "protocols"]).output


def test_a_refused_load_leaves_the_version_in_force_whole(app, tmp_path, monkeypatch, cli, make_site, make_subject):
    def amend(data: dict) -> None:
        _wider_m6_and_higher_abi_drop(data)
        data["visits"] = [visit for visit in data["visits"] if visit["code"] != "m24"]  # m24 has subject visits

    monkeypatch.setitem(app.config, "ECRF_PROTOCOL_DIR", str(_amended(tmp_path / "protocols", amend)))
    make_subject("defier", make_site("SH01", ["defier"]), INDEX)
    versions = _versions("defier")

    result = cli.invoke(args=["ecrf", "load-protocols"])
    assert result.exit_code != 0 and "visit 'm24' has subject visits and cannot be removed" in result.output

    db.session.expire_all()
    assert protocol_for("defier").safety.abi_drop == Decimal("0.15")
    assert db.session.scalar(select(VisitDefinition.days_after).join(Study).where(Study.code == "defier", VisitDefinition.code == "m6")) == 30
    assert _versions("defier") == versions
    assert cli.invoke(args=["ecrf", "protocols"]).output.count("changed on disk, not loaded") == 1


def test_the_start_warns_of_a_file_that_differs_and_serves_the_loaded_version(app, amended, caplog):
    caplog.set_level(logging.WARNING)
    started = create_app(
        "testing",
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "ECRF_PROTOCOL_DIR": str(amended),
            "ECRF_CHECK_PROTOCOLS_AT_START": True,
        },
    )
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("protocol file defier.yaml differs from the loaded version ")
    assert "changed on disk, not loaded" in warnings[0] and "stays in force until `flask ecrf load-protocols`" in warnings[0]
    with started.app_context():
        assert protocol_for("defier").visit("m6").days_after == 30
        db.engine.dispose()


def test_the_start_says_nothing_when_the_files_are_the_loaded_versions(app, caplog):
    caplog.set_level(logging.WARNING)
    started = create_app("testing", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "ECRF_CHECK_PROTOCOLS_AT_START": True})
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    with started.app_context():
        db.engine.dispose()


def test_the_app_runs_without_the_files_and_says_they_are_missing(app, tmp_path, monkeypatch, cli):
    (tmp_path / "empty").mkdir()
    monkeypatch.setitem(app.config, "ECRF_PROTOCOL_DIR", str(tmp_path / "empty"))
    assert protocol_for("angel-icas").index.with_time
    listing = cli.invoke(args=["ecrf", "protocols"]).output.splitlines()
    assert len(listing) == 5 and all(line.endswith("; file missing") for line in listing)


def test_a_study_loaded_before_versions_were_stored_gets_its_version_by_loading(app, cli, monkeypatch):
    monkeypatch.setitem(app.extensions, "ecrf_protocol_versions", {})  # an app started afresh: no version read yet
    db.session.execute(delete(ProtocolVersion).where(ProtocolVersion.study_id == select(Study.id).where(Study.code == "defier").scalar_subquery()))
    db.session.commit()
    with pytest.raises(ProtocolNotLoaded, match="defier: no stored protocol version: run flask ecrf load-protocols"):
        protocol_for("defier")
    assert "defier       no stored protocol version: run flask ecrf load-protocols" in cli.invoke(args=["ecrf", "protocols"]).output

    result = cli.invoke(args=["ecrf", "load-protocols"])
    assert result.exit_code == 0 and "defier: unchanged" in result.output
    db.session.expire_all()
    assert _versions("defier") == 1 and protocol_for("defier") == load_protocol(PROTOCOL_DIR / "defier.yaml")


def test_the_migration_stores_the_loaded_version_of_a_study_whose_file_still_has_its_digest(tmp_path):
    from flask_migrate import downgrade

    fresh = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"})
    with fresh.app_context():
        upgrade()
        downgrade(revision="7c1e5a9d2b40")
        for code, digest in (("defier", protocol_digest(load_protocol(PROTOCOL_DIR / "defier.yaml"))), ("leg-deb", "0" * 64)):
            db.session.execute(
                text(
                    "INSERT INTO studies (code, short_title, title, allocation, subject_prefix, target_enrolment, protocol_sha256) "
                    "VALUES (:code, 'x', 'x', 'chosen', 'XX', 1, :digest)"
                ),
                {"code": code, "digest": digest},
            )
        db.session.commit()
        upgrade()
        stored = db.session.execute(text("SELECT s.code, v.file_name FROM protocol_versions v JOIN studies s ON s.id = v.study_id")).all()
        assert [tuple(row) for row in stored] == [("defier", "defier.yaml")]  # leg-deb's file is not what was loaded: load it
        db.session.remove()
        db.engine.dispose()
