"""Data integrity: the audit trail, the form lifecycle, e-signatures, lost updates, queries, missed visits."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import func, select, text, update

from ecrf.audit.models import AuditEvent
from ecrf.audit.trail import AuditImmutable
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.extensions import db
from ecrf.instruments.abi import AbiData
from ecrf.visits.services import record_visit_date
from tests.conftest import PASSWORD, csrf_token, post_form

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
#: The investigator's first signature in a session gives the account's email too (21 CFR 11.200(a)(1)).
SIGNER = {"email": "investigator@example.org"}
ABI = {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}


@pytest.fixture
def audit_mark():
    """The last audit row before the test: the trail is never emptied, so tests read what comes after."""
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def audit_after(mark: int, **where) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.id > mark).filter_by(**where).order_by(AuditEvent.id)
    return db.session.scalars(stmt).all()


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier"])


@pytest.fixture
def people(make_user, site):
    """One user per role at SH01, each with a client of their own."""
    users = {
        role: make_user(f"{role.value}@example.org", [("defier", site, role)], name=f"Dr {role.value.title()}")
        for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER)
    }
    clients = {}
    for role, user in users.items():
        client = current_app.test_client()
        assert post_form(client, "/login", {"email": user.email, "password": PASSWORD}).status_code == 302
        clients[role] = client
    return users, clients


@pytest.fixture
def abi_url(make_subject, site):
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    return f"/subjects/{subject.subject_code}/visits/m3/forms/abi"


def _entry() -> CrfEntry:
    db.session.expire_all()
    return db.session.scalar(select(CrfEntry).where(CrfEntry.instrument == "abi"))


def _post(client, url: str, data: dict):
    """Post a form with the client's own CSRF token (taken from `url` itself, or from the worklist for action-only URLs)."""
    return client.post(url, data={"csrf_token": csrf_token(client, "/"), **data})


# -- audit trail ---------------------------------------------------------------------------------------


def test_creating_and_changing_clinical_data_is_audited_field_by_field_with_who_when_and_why(people, abi_url, audit_mark):
    users, clients = people
    coordinator = clients[Role.COORDINATOR]
    post_form(coordinator, abi_url, {**ABI, "action": "complete"})
    entry = _entry()
    created = audit_after(audit_mark, object_type="abi_data", object_id=str(entry.id), action="create")
    assert {(e.field, e.new_value) for e in created} >= {("pt_right", "120"), ("brachial_left", "130"), ("abi_right", "0.86")}
    assert all(e.user_email == "coordinator@example.org" and e.subject_id == entry.subject_id and e.at == NOW for e in created)
    mark = max(e.id for e in audit_after(audit_mark))
    post_form(coordinator, abi_url, {**ABI, "pt_right": "125", "reason_for_change": "transcription error", "version": str(entry.version), "action": "complete"})
    (change,) = audit_after(mark, object_type="abi_data", field="pt_right")
    assert (change.action, change.old_value, change.new_value, change.reason) == ("update", "120", "125", "transcription error")


def test_status_changes_allocation_and_exports_are_audited(cli, make_subject, make_site, make_user, audit_mark):
    site = make_site("DE01", ["defiance"], "Europe/Berlin", "DE")
    subject = make_subject("defiance", site, date(2027, 5, 1))
    cli.invoke(args=["ecrf", "randomization", "generate", "defiance", "--seed", "1", "--per-stratum", "4"])
    from ecrf.randomization.services import allocate
    from ecrf.subjects.models import SubjectStatus
    from ecrf.subjects.services import end_participation

    allocate(subject, "DE01", at=NOW)
    end_participation(subject, SubjectStatus.WITHDRAWN, date(2027, 5, 20), "Moved abroad")
    db.session.commit()
    fields = {(e.field, e.new_value) for e in audit_after(audit_mark, object_type="subjects", subject_id=subject.id)}
    assert ("arm_id", str(subject.arm_id)) in fields and ("status", "withdrawn") in fields and ("status_reason", "Moved abroad") in fields
    make_user("dm@example.org", [("defiance", site, Role.DATA_MANAGER)])
    cli.invoke(args=["ecrf", "randomization", "export", "defiance", "--as", "dm@example.org"])
    (export,) = audit_after(audit_mark, action="export")
    assert (export.user_email, export.object_id) == ("dm@example.org", "defiance")


def test_the_application_cannot_update_or_delete_audit_rows(abi_url, people, audit_mark):
    post_form(people[1][Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    row = audit_after(audit_mark)[0]
    row.new_value = "forged"
    with pytest.raises(AuditImmutable):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(AuditImmutable):
        db.session.execute(update(AuditEvent).where(AuditEvent.id == row.id).values(new_value="forged"))
    db.session.rollback()
    with pytest.raises(AuditImmutable):
        db.session.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": row.id})
    db.session.rollback()
    assert db.session.get(AuditEvent, row.id).new_value != "forged"


@pytest.mark.commits
@pytest.mark.parametrize("statement", ["UPDATE audit_events SET new_value = 'forged'", "DELETE FROM audit_events"])
def test_the_database_refuses_to_change_audit_rows_even_past_the_application(abi_url, people, audit_mark, statement):
    post_form(people[1][Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    connection = db.engine.raw_connection()  # a driver connection: no application guard in between
    try:
        cursor = connection.cursor()
        with pytest.raises(Exception, match="append-only"):
            cursor.execute(f"{statement} WHERE id > {audit_mark}")
    finally:
        connection.rollback()
        connection.close()
    assert all(e.new_value != "forged" for e in audit_after(audit_mark))


def test_journey_8_the_field_history_shows_both_values_who_when_and_why(people, abi_url):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    entry = _entry()
    post_form(
        clients[Role.COORDINATOR],
        abi_url,
        {**ABI, "pt_right": "125", "reason_for_change": "source says 125", "version": str(entry.version), "action": "complete"},
    )
    page = clients[Role.MONITOR].get(f"{abi_url}/1/history?field=pt_right").get_data(as_text=True)
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>(\w+)</td>.*?<td class=\"old\">([^<]*)</td><td class=\"new\">([^<]*)</td><td class=\"reason\">([^<]*)</td>",
        page,
        re.S,
    )
    # Newest first; the trail is never emptied, so older tests' rows for a reused id may follow.
    assert [(who, action, old, new, why) for _, who, action, old, new, why in rows][:2] == [
        ("coordinator@example.org", "update", "120", "125", "source says 125"),
        ("coordinator@example.org", "create", "", "120", ""),
    ]
    subject_page = clients[Role.MONITOR].get(re.sub(r"/visits/.*", "/history", abi_url)).get_data(as_text=True)
    assert "source says 125" in subject_page


# -- lifecycle and signature --------------------------------------------------------------------------


def test_complete_then_verified_signed_and_locked_by_their_roles_then_unlocked_with_a_reason(people, abi_url, audit_mark):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    visit_url = abi_url.rsplit("/forms/", 1)[0]
    assert _post(clients[Role.COORDINATOR], f"{abi_url}/1/verify", {}).status_code == 403  # a coordinator cannot verify
    _post(clients[Role.MONITOR], f"{abi_url}/1/verify", {})
    assert _entry().state == "source-verified"
    wrong = _post(clients[Role.INVESTIGATOR], f"{visit_url}/sign", {**SIGNER, "password": "wrong"}).get_data(as_text=True)
    assert "Email or password: not correct; signing needs your own again." in wrong and not _entry().signatures
    _post(clients[Role.INVESTIGATOR], f"{visit_url}/sign", {**SIGNER, "password": PASSWORD})
    entry = _entry()
    (signature,) = entry.signatures
    assert (signature.printed_name, signature.meaning, signature.signed_at) == ("Dr Investigator", "approved", NOW)
    assert entry.state == "verified and signed"
    page = clients[Role.MONITOR].get(abi_url).get_data(as_text=True)
    assert "Signed by <strong>Dr Investigator</strong>, 2027-06-01 04:00 UTC, meaning: approved" in page
    _post(clients[Role.DATA_MANAGER], f"{abi_url}/1/lock", {})
    assert _entry().status is EntryStatus.LOCKED
    refused = post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "pt_right": "99", "reason_for_change": "x", "action": "complete"}).get_data(as_text=True)
    assert "This form is locked" in refused and db.session.get(AbiData, entry.id).pt_right == 120
    _post(clients[Role.DATA_MANAGER], f"{abi_url}/1/unlock", {"reason": ""})
    assert _entry().status is EntryStatus.LOCKED  # no reason, no unlock
    _post(clients[Role.DATA_MANAGER], f"{abi_url}/1/unlock", {"reason": "query on pt_right"})
    assert _entry().status is EntryStatus.COMPLETE
    (unlocked,) = audit_after(audit_mark, object_type="crf_entries", field="status", new_value="complete", reason="query on pt_right")
    assert unlocked.user_email == "data_manager@example.org"


def test_changing_a_signed_form_needs_a_reason_and_voids_signature_and_verification(people, abi_url, audit_mark):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    _post(clients[Role.MONITOR], f"{abi_url}/1/verify", {})
    _post(clients[Role.INVESTIGATOR], f"{abi_url.rsplit('/forms/', 1)[0]}/sign", {**SIGNER, "password": PASSWORD})
    version = str(_entry().version)
    no_reason = post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "pt_right": "125", "version": version, "action": "complete"}).get_data(as_text=True)
    assert "Reason for change: required to change a complete form" in no_reason and 'value="125"' in no_reason
    assert _entry().valid_signatures
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "pt_right": "125", "version": version, "reason_for_change": "typo", "action": "complete"})
    entry = _entry()
    assert entry.state == "complete" and entry.verified_at is None and not entry.valid_signatures
    assert entry.signatures[0].void_reason == "data changed: typo"
    assert audit_after(audit_mark, object_type="signatures", field="voided_at")
    assert audit_after(audit_mark, object_type="crf_entries", field="verified_at", new_value=None, reason="typo")


def test_a_signature_is_bound_to_the_data_signed(people, abi_url):
    from ecrf.crfs.registry import instrument
    from ecrf.crfs.services import signature_holds

    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    _post(clients[Role.INVESTIGATOR], f"{abi_url.rsplit('/forms/', 1)[0]}/sign", {**SIGNER, "password": PASSWORD})
    entry = _entry()
    assert signature_holds(entry.signatures[0], instrument("abi"), entry)
    db.session.get(AbiData, entry.id).pt_right = 121  # a change that did not go through the form
    assert not signature_holds(entry.signatures[0], instrument("abi"), entry)
    db.session.rollback()


def test_locking_needs_verification_and_signature(people, abi_url):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    page = _post(clients[Role.DATA_MANAGER], f"{abi_url}/1/lock", {})
    assert _entry().status is EntryStatus.COMPLETE
    follow = clients[Role.DATA_MANAGER].get(page.location).get_data(as_text=True)
    assert "A form is locked only once it is source-verified and signed." in follow


def test_a_monitor_cannot_edit_clinical_data(people, abi_url):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    response = post_form(clients[Role.MONITOR], abi_url, {**ABI, "pt_right": "99", "reason_for_change": "x", "action": "complete"})
    assert response.status_code == 403 and db.session.get(AbiData, _entry().id).pt_right == 120


# -- no lost updates -------------------------------------------------------------------------------------


def test_two_users_saving_one_form_the_second_is_told_what_changed_and_nothing_is_overwritten(people, abi_url):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "draft"})
    opened = str(_entry().version)  # both open the draft at this version
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "pt_left": "95", "version": opened, "action": "draft"})
    second = post_form(clients[Role.INVESTIGATOR], abi_url, {**ABI, "pt_left": "92", "dp_left": "80", "version": opened, "action": "draft"}).get_data(
        as_text=True
    )
    assert "This form changed after you opened it: last saved by Dr Coordinator at 2027-06-01 04:00 UTC. Nothing of yours was saved." in second
    assert "Posterior tibial, left (mmHg): saved as 95, you entered 92" in second and "Dorsalis pedis, left (mmHg): saved as 84, you entered 80" in second
    assert 'value="92"' in second
    data = db.session.get(AbiData, _entry().id)
    assert (data.pt_left, data.dp_left) == (95, 84)


# -- queries --------------------------------------------------------------------------------------------


def test_query_raised_answered_reopened_and_closed_with_its_thread_kept(people, abi_url):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    raised = _post(clients[Role.MONITOR], f"{abi_url}/1/queries", {"field": "pt_right", "text": "Source says 125"})
    thread = raised.location
    worklist = clients[Role.COORDINATOR].get("/").get_data(as_text=True)
    assert 'id="queries"' in worklist and "Source says 125" in worklist
    assert _post(clients[Role.MONITOR], thread, {"action": "answer", "text": "x"}).status_code == 403  # the monitor does not answer
    _post(clients[Role.COORDINATOR], thread, {"action": "answer", "text": "Corrected to 125"})
    monitor_worklist = clients[Role.MONITOR].get("/").get_data(as_text=True)
    assert f'href="{thread.split("localhost")[-1]}"' in monitor_worklist and "answered" in monitor_worklist  # the raiser's turn
    assert "Source says 125" not in clients[Role.COORDINATOR].get("/").get_data(as_text=True)
    _post(clients[Role.MONITOR], thread, {"action": "reopen", "text": "Also check DP"})
    _post(clients[Role.COORDINATOR], thread, {"action": "answer", "text": "DP checked"})
    _post(clients[Role.MONITOR], thread, {"action": "close", "text": "OK"})
    page = clients[Role.COORDINATOR].get(thread).get_data(as_text=True)
    assert 'id="query-status">closed' in page
    assert re.findall(r'badge text-bg-secondary">(\w+)</span> ([^<\n]+)', page) == [
        ("raise", "Source says 125"),
        ("answer", "Corrected to 125"),
        ("reopen", "Also check DP"),
        ("answer", "DP checked"),
        ("close", "OK"),
    ]


def test_open_queries_block_locking(people, abi_url):
    users, clients = people
    post_form(clients[Role.COORDINATOR], abi_url, {**ABI, "action": "complete"})
    _post(clients[Role.MONITOR], f"{abi_url}/1/verify", {})
    _post(clients[Role.INVESTIGATOR], f"{abi_url.rsplit('/forms/', 1)[0]}/sign", {**SIGNER, "password": PASSWORD})
    _post(clients[Role.MONITOR], f"{abi_url}/1/queries", {"field": "pt_right", "text": "Check"})
    response = _post(clients[Role.DATA_MANAGER], f"{abi_url}/1/lock", {})
    assert "have open queries; close them before locking" in clients[Role.DATA_MANAGER].get(response.location).get_data(as_text=True)
    assert _entry().status is EntryStatus.COMPLETE


# -- visits that go wrong -----------------------------------------------------------------------------


def test_a_missed_visit_needs_a_reason_and_goes_to_the_deviation_log(people, make_subject, site):
    users, clients = people
    subject = make_subject("defier", site, date(2027, 1, 1))
    url = f"/subjects/{subject.subject_code}/visits/m1"
    refused = _post(clients[Role.COORDINATOR], f"{url}/missed", {"missed_reason": ""}).get_data(as_text=True)
    assert "Reason missed: required" in refused
    _post(clients[Role.COORDINATOR], f"{url}/missed", {"missed_reason": "Patient in hospital abroad"})
    db.session.refresh(subject.visits[1])
    assert subject.visits[1].missed and subject.visits[1].status(date(2027, 6, 1)).value == "missed"
    log = clients[Role.MONITOR].get("/studies/defier/deviations").get_data(as_text=True)
    assert "missed visit" in log and "Patient in hospital abroad" in log
    assert "1 month" not in clients[Role.COORDINATOR].get("/").get_data(as_text=True).split('id="overdue"')[1].split("</table>")[0]
