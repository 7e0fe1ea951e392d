"""Randomization: permuted blocks stratified by site, the list's CLI, atomic allocation, exhaustion."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from ecrf.alerts.models import Alert
from ecrf.auth.models import Role
from ecrf.db import commit_with_retry
from ecrf.extensions import db
from ecrf.protocols import protocols
from ecrf.randomization.models import RandomizationSlot
from ecrf.randomization.services import allocate, generate, permuted_blocks
from ecrf.screening.services import enrol_from_screening
from ecrf.subjects.models import Subject
from tests.conftest import post_form

NOW = datetime(2027, 3, 10, 4, 0, tzinfo=UTC)


def test_permuted_blocks_keep_the_ratio_within_every_block():
    slots = permuted_blocks({"a": 1, "b": 1}, [2, 4], 200, random.Random(1))
    assert len(slots) >= 200
    by_block: dict[int, list[str]] = {}
    for block, _size, arm in slots:
        by_block.setdefault(block, []).append(arm)
    assert {len(arms) for arms in by_block.values()} == {2, 4}
    for block, arms in by_block.items():
        assert Counter(arms)["a"] == Counter(arms)["b"], block
    unequal = permuted_blocks({"a": 2, "b": 1}, [3, 6], 30, random.Random(2))
    assert Counter(arm for _, _, arm in unequal)["a"] == 2 * Counter(arm for _, _, arm in unequal)["b"]


def test_the_same_seed_gives_the_same_list_and_another_seed_another():
    protocol = protocols()["defiance"]
    first = generate(protocol, ["DE01", "US01"], seed=42, per_stratum=20)
    assert first == generate(protocol, ["DE01", "US01"], seed=42, per_stratum=20)
    assert first != generate(protocol, ["DE01", "US01"], seed=43, per_stratum=20)
    assert {slot.stratum for slot in first} == {"DE01", "US01"}
    assert [s.sequence for s in first if s.stratum == "US01"] == list(range(1, len([s for s in first if s.stratum == "US01"]) + 1))


@pytest.fixture
def defiance_sites(make_site):
    return make_site("DE01", ["defiance"], "Europe/Berlin", "DE"), make_site("US01", ["defiance"], "America/New_York", "US")


def test_generate_builds_the_list_for_every_site_and_export_prints_it_for_the_data_manager(cli, defiance_sites, make_user):
    result = cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "42", "--per-stratum", "20"])
    assert result.exit_code == 0, result.output
    strata = dict(db.session.execute(select(RandomizationSlot.stratum, func.count()).group_by(RandomizationSlot.stratum)).all())
    assert set(strata) == {"DE01", "US01"} and all(count >= 20 for count in strata.values())
    make_user("dm@example.org", [("defiance", site, Role.DATA_MANAGER) for site in defiance_sites])
    export = cli.invoke(args=["ecrf", "randomization", "export", "defiance", "--as", "dm@example.org"])
    assert export.exit_code == 0
    lines = export.output.splitlines()
    expected = generate(protocols()["defiance"], ["DE01", "US01"], seed=42, per_stratum=20)
    assert lines[0] == "stratum,sequence,block,arm"
    assert lines[1:] == [f"{s.stratum},{s.sequence},{s.block},{s.arm}" for s in expected]
    again = cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "42", "--per-stratum", "20"])
    assert again.exit_code != 0 and "already has a randomization list" in again.output


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.BLINDED_ASSESSOR])
def test_only_the_data_manager_may_export_the_list(cli, defiance_sites, make_user, role):
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "1", "--per-stratum", "4"])
    make_user("someone@example.org", [("defiance", defiance_sites[0], role)])
    result = cli.invoke(args=["ecrf", "randomization", "export", "defiance", "--as", "someone@example.org"])
    assert result.exit_code != 0
    assert result.output.strip() == "Error: only an unblinded data manager of defiance may export its randomization list"


def test_a_statisticians_list_is_imported(cli, defiance_sites, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("stratum,sequence,block,arm\nDE01,1,1,clottriever\nDE01,2,1,anticoagulation\nUS01,1,1,anticoagulation\nUS01,2,1,clottriever\n")
    result = cli.invoke(args=["ecrf", "randomization", "import", "defiance", str(path)])
    assert result.exit_code == 0 and "4 slots imported from list.csv" in result.output
    assert db.session.scalar(select(RandomizationSlot.block_size).limit(1)) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stratum,seq,block,arm\nDE01,1,1,clottriever\n", "the header must be exactly stratum,sequence,block,arm"),
        ("stratum,sequence,block,arm\nDE01,1,1,stent\n", "line 2: unknown arm 'stent'; arms are anticoagulation, clottriever"),
        ("stratum,sequence,block,arm\nXX99,1,1,clottriever\n", "line 2: unknown stratum 'XX99'"),
        (
            "stratum,sequence,block,arm\nDE01,1,1,clottriever\nDE01,3,1,anticoagulation\n",
            "stratum DE01: sequence numbers must run 1, 2, 3 ... without gaps or repeats",
        ),
        ("stratum,sequence,block,arm\nDE01,one,1,clottriever\n", "line 2: sequence and block must be whole numbers"),
    ],
)
def test_a_bad_list_file_is_refused_with_the_line_and_the_reason(cli, defiance_sites, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = cli.invoke(args=["ecrf", "randomization", "import", "defiance", str(path)])
    assert result.exit_code != 0 and message in result.output
    assert db.session.scalar(select(func.count(RandomizationSlot.id))) == 0


@pytest.mark.commits
def test_fifty_concurrent_randomizations_take_fifty_consecutive_slots(app, cli, defiance_sites, make_subject):
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "9", "--per-stratum", "60"])
    subject_ids = [make_subject("defiance", defiance_sites[0], NOW.date()).id for _ in range(50)]
    barrier = threading.Barrier(len(subject_ids))
    errors: list[BaseException] = []

    def randomize(subject_id: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                commit_with_retry(db.session, lambda: allocate(db.session.get(Subject, subject_id), "DE01", at=NOW))
            except BaseException as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=randomize, args=(subject_id,)) for subject_id in subject_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    db.session.expire_all()
    used = db.session.execute(
        select(RandomizationSlot.sequence, RandomizationSlot.subject_id).where(RandomizationSlot.subject_id.is_not(None)).order_by(RandomizationSlot.sequence)
    ).all()
    assert [sequence for sequence, _ in used] == list(range(1, 51))
    assert sorted(subject for _, subject in used) == sorted(subject_ids)
    arms = dict(db.session.execute(select(Subject.id, Subject.arm_id)).all())
    slot_arms = dict(db.session.execute(select(RandomizationSlot.subject_id, RandomizationSlot.arm_id).where(RandomizationSlot.subject_id.is_not(None))).all())
    assert arms == slot_arms


def test_enrolment_randomizes_in_the_same_transaction(cli, defiance_sites, make_screening):
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "9", "--per-stratum", "4"])
    subject = enrol_from_screening(make_screening("defiance", defiance_sites[0]), consent_date=NOW.date(), at=NOW)
    db.session.rollback()  # a failure after allocation undoes the allocation too
    assert db.session.scalar(select(func.count(RandomizationSlot.id)).where(RandomizationSlot.subject_id.is_not(None))) == 0
    assert subject.id is None or db.session.get(Subject, subject.id) is None


def test_an_exhausted_list_refuses_clearly_and_alerts_the_data_manager(cli, client, defiance_sites, make_screening, make_user, login):
    site = defiance_sites[0]
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "3", "--per-stratum", "2"])
    slots = db.session.scalar(select(func.count(RandomizationSlot.id)).where(RandomizationSlot.stratum == "DE01"))
    for _ in range(slots):
        enrol_from_screening(make_screening("defiance", site), consent_date=NOW.date(), at=NOW)
    db.session.commit()
    login(make_user("c@example.org", [("defiance", site, Role.COORDINATOR)]))
    record = make_screening("defiance", site)
    page = post_form(client, f"/screening/{record.screening_number}/enrol", {"consent_date": "2027-03-10"}).get_data(as_text=True)
    assert "no free slot left in stratum DE01" in page and "The data manager has been alerted; the patient is not enrolled yet." in page
    assert db.session.scalar(select(func.count(Subject.id))) == slots
    alert = db.session.scalar(select(Alert))
    assert alert.kind == "randomization_list_exhausted" and alert.role == "data_manager"
    data_manager = app_client_logged_in(make_user("dm@example.org", [("defiance", site, Role.DATA_MANAGER)]))
    worklist = data_manager.get("/").get_data(as_text=True)
    assert 'id="alerts"' in worklist and "no free slot left in stratum DE01" in worklist


def app_client_logged_in(user):
    """A second browser: a new test client logged in as `user`."""
    from flask import current_app

    from tests.conftest import PASSWORD

    other = current_app.test_client()
    assert post_form(other, "/login", {"email": user.email, "password": PASSWORD}).status_code == 302
    return other


def test_the_list_page_shows_use_per_stratum_to_the_data_manager_only(cli, client, defiance_sites, make_user, login):
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "3", "--per-stratum", "4"])
    login(make_user("c@example.org", [("defiance", site, Role.COORDINATOR) for site in defiance_sites]))
    assert client.get("/studies/defiance/randomization").status_code == 404
    data_manager = app_client_logged_in(make_user("dm@example.org", [("defiance", site, Role.DATA_MANAGER) for site in defiance_sites]))
    page = data_manager.get("/studies/defiance/randomization").get_data(as_text=True)
    assert 'data-stratum="DE01"' in page and 'data-stratum="US01"' in page
    assert "clottriever" not in page.lower() and "anticoagulation" not in page.lower()


def test_lists_are_stratified_by_site_and_by_every_factor_the_protocol_names():
    from ecrf.protocols.schema import Stratum

    protocol = protocols()["defiance"]
    stratified = protocol.model_copy(
        update={
            "allocation": protocol.allocation.model_copy(
                update={
                    "strata": [Stratum(code="segment", label="Thrombus extent", levels=["iliac", "femoral"])],
                }
            )
        }
    )
    slots = generate(stratified, ["DE01", "US01"], seed=4, per_stratum=6)
    assert {slot.stratum for slot in slots} == {"DE01/segment=iliac", "DE01/segment=femoral", "US01/segment=iliac", "US01/segment=femoral"}
    for stratum in {slot.stratum for slot in slots}:
        arms = [slot.arm for slot in slots if slot.stratum == stratum]
        assert len(arms) >= 6 and arms.count("clottriever") == arms.count("anticoagulation")
