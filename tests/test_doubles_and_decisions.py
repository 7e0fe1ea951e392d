"""Nothing doubled, nothing overwritten: repeated posts, first saves, decided screening outcomes, the dates of signed
and locked visits, and one write path for every entry (issue 9, points 2, 3, 5, 6 and 7). The concurrent cases
run real requests against the live server; tests/test_races.py holds the races of points 1–4 and 8."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Membership, Role
from ecrf.crfs.models import CrfEntry, EntryStatus, Signature
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import mark_none_reported, signature_holds
from ecrf.extensions import db
from ecrf.instruments.abi import AbiData
from ecrf.queries.models import DataQuery
from ecrf.safety.models import Flag, FlagStatus
from ecrf.safety.services import refresh_flags
from ecrf.screening.models import ScreeningOutcome, ScreeningRecord
from ecrf.screening.services import decline_consent
from ecrf.subjects.models import Subject
from ecrf.visits.services import record_visit_date
from tests.conftest import PASSWORD, page_fields, post_form
from tests.races import at_once
from tests.web import WebUser

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
ABI = {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}
SIGNER = {"email": "investigator@example.org", "password": PASSWORD}


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier"])


@pytest.fixture
def people(make_user, site):
    """One user per role at SH01, each logged in with a client of their own."""
    clients = {}
    for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR, Role.DATA_MANAGER):
        user = make_user(f"{role.value}@example.org", [("defier", site, role)], name=f"Dr {role.value.title()}")
        client = current_app.test_client()
        assert post_form(client, "/login", {"email": user.email, "password": PASSWORD}).status_code == 302
        clients[role] = client
    return clients


@pytest.fixture
def subject(make_subject, site):
    """A DEFIER subject whose 3-month visit took place."""
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    return subject


def _url(subject, code: str = "abi", visit: str = "m3") -> str:
    return f"/subjects/{subject.subject_code}/visits/{visit}/forms/{code}"


def _count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _signed_and_verified(people, subject) -> str:
    """ABI complete, source-verified and signed; returns the visit's URL."""
    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    visit_url = f"/subjects/{subject.subject_code}/visits/m3"
    people[Role.MONITOR].post(f"{_url(subject)}/1/verify", data=page_fields(people[Role.MONITOR], _url(subject), "/verify"))
    people[Role.INVESTIGATOR].post(f"{visit_url}/sign", data={**page_fields(people[Role.INVESTIGATOR], visit_url, "/sign"), **SIGNER})
    entry = _abi_entry()
    assert entry.verified_at is not None and entry.valid_signatures
    return visit_url


def _abi_entry() -> CrfEntry:
    db.session.expire_all()
    return db.session.scalar(select(CrfEntry).where(CrfEntry.instrument == "abi"))


# -- point 2: a form posted twice creates once ----------------------------------------------------------------


def test_a_new_adverse_event_sent_twice_is_saved_once_and_the_repeat_shows_it(people, subject):
    coordinator, url = people[Role.COORDINATOR], _url(subject, "adverse_events") + "/new"
    hidden = page_fields(coordinator, url)
    first = coordinator.post(url, data={**hidden, "ae_term": "Groin haematoma", "action": "draft"})
    again = coordinator.post(url, data={**hidden, "ae_term": "Groin haematoma", "action": "draft"})
    assert first.status_code == again.status_code == 302 and first.location == again.location
    assert "it was saved once" in coordinator.get(again.location).get_data(as_text=True)
    assert _count(CrfEntry, CrfEntry.instrument == "adverse_events") == 1


def test_two_new_adverse_events_from_two_renderings_are_both_saved(people, subject):
    coordinator, url = people[Role.COORDINATOR], _url(subject, "adverse_events") + "/new"
    for term in ("Groin haematoma", "Headache"):
        assert post_form(coordinator, url, {"ae_term": term, "action": "draft"}).status_code == 302
    assert _count(CrfEntry, CrfEntry.instrument == "adverse_events") == 2


def test_a_screening_form_sent_twice_creates_one_screening_record(people, site):
    coordinator, url = people[Role.COORDINATOR], "/studies/defier/sites/SH01/screening/new"
    hidden = page_fields(coordinator, url)
    responses = [coordinator.post(url, data={**hidden, "screening_date": "2027-06-01"}) for _ in range(2)]
    assert [r.status_code for r in responses] == [302, 302] and responses[0].location == responses[1].location
    assert _count(ScreeningRecord) == 1


def test_a_signature_sent_twice_signs_once(people, subject):
    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    investigator, visit_url = people[Role.INVESTIGATOR], f"/subjects/{subject.subject_code}/visits/m3"
    hidden = page_fields(investigator, visit_url, "/sign")
    first = investigator.post(f"{visit_url}/sign", data={**hidden, **SIGNER})
    again = investigator.post(f"{visit_url}/sign", data={**hidden, **SIGNER})
    assert first.status_code == again.status_code == 302
    assert "it was saved once" in investigator.get(again.location).get_data(as_text=True)
    assert _count(Signature) == 1


def test_two_windows_signing_at_once_make_one_signature(people, subject, live_server):
    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    visit_url = f"/subjects/{subject.subject_code}/visits/m3"
    windows = [WebUser(live_server, "investigator@example.org", PASSWORD) for _ in range(2)]
    forms = [window.hidden_fields(visit_url, f"{visit_url}/sign") for window in windows]  # two renderings: two keys
    responses = at_once([lambda w=w, h=h: w.post(f"{visit_url}/sign", SIGNER, hidden=h) for w, h in zip(windows, forms, strict=False)])
    assert all(not isinstance(r, Exception) and r.status_code in (200, 302) for r in responses), responses
    assert _count(Signature, Signature.voided_at.is_(None)) == 1
    refused = [r for r in responses if r.status_code == 200]
    assert all("were signed or changed a moment ago" in r.text or "no complete, unsigned form" in r.text for r in refused)


@pytest.fixture
def abi_flag(subject):
    """An ABI fall at 3 months: a safety flag for the investigator."""
    from tests.test_flags import _abi, enter

    enter(subject, "baseline", "abi", **_abi(126, 110))
    enter(subject, "m3", "abi", **_abi(98, 90))
    refresh_flags([subject], now=NOW)
    db.session.commit()
    return db.session.scalar(select(Flag).where(Flag.kind == "abi_drop"))


def test_a_flag_confirmation_sent_twice_opens_one_adverse_event(people, abi_flag):
    investigator, url = people[Role.INVESTIGATOR], f"/flags/{abi_flag.id}"
    hidden = page_fields(investigator, url)
    first = investigator.post(url, data={**hidden, "action": "confirm"})
    again = investigator.post(url, data={**hidden, "action": "confirm"})
    assert first.status_code == again.status_code == 302 and first.location == again.location
    assert _count(CrfEntry, CrfEntry.instrument == "adverse_events") == 1
    assert db.session.get(Flag, abi_flag.id).status is FlagStatus.CONFIRMED


def test_two_confirmations_of_one_flag_at_once_open_one_adverse_event(make_user, site, abi_flag, live_server):
    make_user("pi2@example.org", [("defier", site, Role.INVESTIGATOR)])
    make_user("pi3@example.org", [("defier", site, Role.INVESTIGATOR)])
    url = f"/flags/{abi_flag.id}"
    people = [WebUser(live_server, email, PASSWORD) for email in ("pi2@example.org", "pi3@example.org")]
    forms = [person.hidden_fields(url) for person in people]
    responses = at_once([lambda p=p, h=h: p.post(url, {"action": "confirm"}, hidden=h) for p, h in zip(people, forms, strict=False)])
    assert all(not isinstance(r, Exception) and r.status_code == 302 for r in responses), responses
    assert _count(CrfEntry, CrfEntry.instrument == "adverse_events") == 1


def test_a_query_raised_twice_is_one_query(people, subject):
    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    monitor = people[Role.MONITOR]
    hidden = page_fields(monitor, _url(subject), "/queries")
    for _ in range(2):
        assert monitor.post(f"{_url(subject)}/1/queries", data={**hidden, "field": "pt_left", "text": "Source says 95"}).status_code == 302
    assert _count(DataQuery) == 1


# -- point 3: the first save of a form two users opened ---------------------------------------------------------


def test_two_users_open_a_not_started_form_and_the_second_save_is_refused_with_its_values_kept(people, subject):
    coordinator, investigator, url = people[Role.COORDINATOR], people[Role.INVESTIGATOR], _url(subject)
    opened = [page_fields(client, url) for client in (coordinator, investigator)]
    assert coordinator.post(url, data={**opened[0], **ABI, "pt_left": "91", "action": "draft"}).status_code == 302
    second = investigator.post(url, data={**opened[1], **ABI, "pt_left": "92", "action": "draft"}).get_data(as_text=True)
    assert "This form changed after you opened it: last saved by Dr Coordinator at 2027-06-01 04:00 UTC. Nothing of yours was saved." in second
    assert "Posterior tibial, left (mmHg): saved as 91, you entered 92" in second and 'value="92"' in second
    assert db.session.get(AbiData, _abi_entry().id).pt_left == 91


# -- point 5: a declined consent stays declined ----------------------------------------------------------------


def test_a_declined_screening_stays_declined_until_reversed_with_a_reason(people, site, make_screening):
    coordinator = people[Role.COORDINATOR]
    record = make_screening("defier", site)
    url = f"/screening/{record.screening_number}"
    coordinator.post(f"{url}/decline", data=page_fields(coordinator, url, "/decline"))
    resaved = post_form(coordinator, url, {"screening_date": "2027-06-01"}).get_data(as_text=True)
    assert "the patient declined consent and cannot be enrolled; the screening no longer changes" in resaved
    enrol = post_form(coordinator, f"{url}/enrol", {"consent_date": "2027-06-01", "index_date": "2027-06-01", "arm": "des"})
    assert "declined consent and cannot be enrolled" in enrol.get_data(as_text=True) and _count(Subject) == 0
    db.session.expire_all()
    assert db.session.get(ScreeningRecord, record.id).outcome is ScreeningOutcome.DECLINED_CONSENT
    mark = db.session.scalar(select(func.max(AuditEvent.id)))
    no_reason = coordinator.post(f"{url}/reverse-decline", data={**page_fields(coordinator, url, "/reverse-decline"), "reason": " "})
    assert "Reason: required to reverse a declined consent" in coordinator.get(no_reason.location).get_data(as_text=True)
    coordinator.post(f"{url}/reverse-decline", data={**page_fields(coordinator, url, "/reverse-decline"), "reason": "Patient changed their mind"})
    db.session.expire_all()
    assert db.session.get(ScreeningRecord, record.id).outcome is ScreeningOutcome.ELIGIBLE
    (change,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.object_type == "screening_records", AuditEvent.field == "outcome")
    ).all()
    assert (change.old_value, change.new_value, change.reason, change.user_email) == (
        "declined_consent",
        "eligible",
        "Patient changed their mind",
        "coordinator@example.org",
    )


# -- point 6: signed, verified or locked visits keep their date -----------------------------------------------


def test_changing_the_date_of_a_signed_visit_needs_a_reason_and_voids_signatures_and_verification(people, subject):
    visit_url = _signed_and_verified(people, subject)
    coordinator = people[Role.COORDINATOR]
    refused = post_form(coordinator, visit_url, {"visit_date": "2027-04-02"}).get_data(as_text=True)
    assert "Reason for change: required; 1 form(s) of this visit are signed or source-verified" in refused and 'value="2027-04-02"' in refused
    assert db.session.get(type(subject.visits[2]), subject.visits[2].id).visit_date == date(2027, 4, 1) and _abi_entry().valid_signatures
    mark = db.session.scalar(select(func.max(AuditEvent.id)))
    post_form(coordinator, visit_url, {"visit_date": "2027-04-02", "reason_for_change": "Date typed wrong; source says 2 April"})
    entry = _abi_entry()
    assert entry.visit.visit_date == date(2027, 4, 2) and entry.verified_at is None and not entry.valid_signatures
    assert entry.signatures[0].void_reason == "data changed: Date typed wrong; source says 2 April"
    changed = db.session.scalars(select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.object_type == "visits", AuditEvent.field == "visit_date")).all()
    assert [(e.old_value, e.new_value, e.reason) for e in changed] == [("2027-04-01", "2027-04-02", "Date typed wrong; source says 2 April")]


def test_a_locked_visit_keeps_its_date_until_unlocked(people, subject):
    visit_url = _signed_and_verified(people, subject)
    data_manager = people[Role.DATA_MANAGER]
    data_manager.post(f"{_url(subject)}/1/lock", data=page_fields(data_manager, _url(subject), "/lock"))
    assert _abi_entry().status is EntryStatus.LOCKED
    refused = post_form(people[Role.COORDINATOR], visit_url, {"visit_date": "2027-04-02", "reason_for_change": "typo"}).get_data(as_text=True)
    assert "1 form(s) of this visit are locked, so its date and missed mark cannot change" in refused
    assert _abi_entry().visit.visit_date == date(2027, 4, 1) and _abi_entry().status is EntryStatus.LOCKED


def test_a_locked_form_keeps_its_visit_from_being_marked_missed(make_subject, site):
    from ecrf.errors import InvalidInput
    from ecrf.visits.services import mark_missed

    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    visit = subject.visits[3]  # 6 months, not yet dated: an adverse event entered there, complete, signed and locked
    entry = CrfEntry(subject_id=subject.id, visit_id=visit.id, instrument="adverse_events", sequence=1, status=EntryStatus.LOCKED)
    db.session.add(entry)
    db.session.commit()
    with pytest.raises(InvalidInput, match="locked, so its date and missed mark cannot change"):
        mark_missed(visit, "Patient abroad")


def test_a_signature_is_bound_to_the_visit_date(people, subject):
    _signed_and_verified(people, subject)
    entry = _abi_entry()
    assert signature_holds(entry.valid_signatures[0], instrument("abi"), entry)
    entry.visit.visit_date = date(2027, 4, 3)  # a change that did not go through the visit page
    assert not signature_holds(entry.valid_signatures[0], instrument("abi"), entry)
    db.session.rollback()


# -- point 7: one write path per entry; history stays with its row --------------------------------------------------


def test_confirming_a_flag_saves_the_adverse_event_through_its_form_in_place_of_none_to_report(people, subject, abi_flag):
    visit = subject.visits[2]
    marker = mark_none_reported(visit, instrument("adverse_events"), None)
    db.session.commit()
    marker_id = marker.id
    investigator = people[Role.INVESTIGATOR]
    response = investigator.post(f"/flags/{abi_flag.id}", data={**page_fields(investigator, f"/flags/{abi_flag.id}"), "action": "confirm"})
    assert response.location.endswith("/visits/m3/forms/adverse_events/1")
    db.session.expire_all()
    (entry,) = db.session.scalars(select(CrfEntry).where(CrfEntry.visit_id == visit.id, CrfEntry.instrument == "adverse_events")).all()
    assert (entry.id, entry.none_reported, entry.sequence, entry.status) == (marker_id, False, 1, EntryStatus.DRAFT)
    page = investigator.get(f"/subjects/{subject.subject_code}/visits/m3").get_data(as_text=True)
    assert "none to report at this visit" not in page and "ABI decrease, left leg" in page


def test_an_entry_replacing_none_to_report_keeps_its_id_and_no_entry_is_ever_deleted(people, subject):
    visit = subject.visits[2]
    mark = db.session.scalar(select(func.max(AuditEvent.id)))
    marker_id = mark_none_reported(visit, instrument("adverse_events"), None).id
    db.session.commit()
    post_form(people[Role.COORDINATOR], _url(subject, "adverse_events") + "/new", {"ae_term": "Headache", "action": "draft"})
    db.session.expire_all()
    ids = db.session.scalars(select(CrfEntry.id).where(CrfEntry.instrument == "adverse_events")).all()
    assert ids == [marker_id]
    history = db.session.scalars(select(AuditEvent).where(AuditEvent.id > mark, AuditEvent.object_type == "crf_entries")).all()
    assert {e.object_id for e in history} == {str(marker_id)} and "delete" not in {e.action for e in history}
    assert ("none_reported", "true", "false") in {(e.field, e.old_value, e.new_value) for e in history}


def test_none_to_report_and_a_first_entry_at_the_same_moment_never_stand_side_by_side(people, subject, live_server):
    url = _url(subject, "adverse_events")
    coordinator = WebUser(live_server, "coordinator@example.org", PASSWORD)
    investigator = WebUser(live_server, "investigator@example.org", PASSWORD)
    visit_page = f"/subjects/{subject.subject_code}/visits/m3"
    none_form, new_form = coordinator.hidden_fields(visit_page, f"{url}/none"), investigator.hidden_fields(f"{url}/new")
    responses = at_once(
        [
            lambda: coordinator.post(f"{url}/none", {}, hidden=none_form),
            lambda: investigator.post(f"{url}/new", {"ae_term": "Headache", "action": "draft"}, hidden=new_form),
        ]
    )
    assert all(not isinstance(r, Exception) and r.status_code in (200, 302) for r in responses), responses
    db.session.expire_all()
    entries = db.session.scalars(select(CrfEntry).where(CrfEntry.instrument == "adverse_events")).all()
    assert len(entries) == 1  # either the mark, replaced by the entry, or the entry alone


def test_a_membership_given_after_one_was_removed_never_takes_its_id(make_user, make_site):
    from ecrf.admin.services import add_membership, remove_membership

    site = make_site("DE01", ["defier", "defiance"], "Europe/Berlin", "DE")
    user = make_user("someone@example.org")
    removed = add_membership(user, "defier", "DE01", "monitor")
    db.session.commit()
    removed_id = removed.id
    remove_membership(user, removed)
    db.session.commit()
    again = add_membership(user, "defiance", site.code, "monitor")
    db.session.commit()
    assert again.id > removed_id
    assert db.session.scalar(select(func.count(Membership.id))) == 1


def test_the_application_refuses_to_delete_a_clinical_row(subject):
    from ecrf.audit.trail import ClinicalRowDeleted

    db.session.delete(subject.visits[1])
    with pytest.raises(ClinicalRowDeleted, match="clinical rows are never deleted \\(visits\\)"):
        db.session.flush()
    db.session.rollback()


def test_a_new_account_sent_twice_is_created_once_and_the_repeat_goes_to_its_page(make_user, site):
    from ecrf.auth.models import User

    make_user("admin@example.org", [("defier", site, Role.ADMIN)])
    admin = current_app.test_client()
    post_form(admin, "/login", {"email": "admin@example.org", "password": PASSWORD})
    hidden = page_fields(admin, "/admin/users/new")
    data = {"email": "new.person@example.org", "full_name": "New Person", "password": ""}
    first = admin.post("/admin/users/new", data={**hidden, **data})
    again = admin.post("/admin/users/new", data={**hidden, **data})
    assert first.status_code == 200 and "Generated password" in first.get_data(as_text=True)
    user = db.session.scalar(select(User).where(User.email == "new.person@example.org"))
    assert again.status_code == 302 and again.location.endswith(f"/admin/users/{user.id}")
    assert _count(User, User.email == "new.person@example.org") == 1


# -- what another request commits between this one's read and its write ------------------------------------------


def _committed_elsewhere(statement: str, **params) -> None:
    """A write committed by another request (its own connection) after this one read its rows."""
    from sqlalchemy import text

    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


@pytest.mark.commits
def test_a_signature_over_an_entry_saved_since_it_was_read_is_refused(people, subject):
    from sqlalchemy.orm.exc import StaleDataError

    from ecrf.auth.models import User
    from ecrf.auth.services import PasswordCheck
    from ecrf.crfs.services import sign_entries

    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    entry = _abi_entry()
    _committed_elsewhere("UPDATE crf_entries SET version = version + 1 WHERE id = :id", id=entry.id)  # a save
    investigator = db.session.scalar(select(User).where(User.email == "investigator@example.org"))
    with pytest.raises(StaleDataError):
        sign_entries([(entry, instrument("abi"))], investigator, PasswordCheck(ok=True))
    db.session.rollback()
    assert _count(Signature) == 0


@pytest.mark.commits
def test_a_visit_date_change_racing_a_signature_is_refused_and_never_leaves_a_signature_that_does_not_hold(people, subject):
    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    entry = _abi_entry()  # the date change has read the visit's forms: none is signed yet ...
    _committed_elsewhere("UPDATE crf_entries SET version = version + 1 WHERE id = :id", id=entry.id)  # ... a signature commits
    from sqlalchemy.orm.exc import StaleDataError

    with pytest.raises(StaleDataError):
        record_visit_date(entry.visit, date(2027, 4, 2), reason_for_change="typo")
    db.session.rollback()
    assert _abi_entry().visit.visit_date == date(2027, 4, 1)


def test_a_visit_date_change_that_loses_a_race_is_told_so_not_an_error(people, subject, live_server):
    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    visit_url = f"/subjects/{subject.subject_code}/visits/m3"
    coordinator, investigator = (WebUser(live_server, email, PASSWORD) for email in ("coordinator@example.org", "investigator@example.org"))
    date_form, sign_form = coordinator.hidden_fields(visit_url), investigator.hidden_fields(visit_url, f"{visit_url}/sign")
    responses = at_once(
        [
            lambda: coordinator.post(visit_url, {"visit_date": "2027-04-02", "reason_for_change": "typo"}, hidden=date_form),
            lambda: investigator.post(f"{visit_url}/sign", SIGNER, hidden=sign_form),
        ]
    )
    assert all(not isinstance(r, Exception) and r.status_code in (200, 302) for r in responses), responses
    entry = _abi_entry()
    for signature in entry.valid_signatures:  # whichever came first, a valid signature holds
        assert signature_holds(signature, instrument("abi"), entry)


@pytest.mark.commits
def test_a_screening_correction_after_a_decline_by_someone_else_is_refused(people, site, make_screening):
    from ecrf.errors import InvalidInput
    from ecrf.screening.services import save_screening

    record = make_screening("defier", site)
    _committed_elsewhere("UPDATE screening_records SET outcome = 'declined_consent' WHERE id = :id", id=record.id)
    with pytest.raises(InvalidInput, match="declined consent and cannot be enrolled"):
        save_screening(
            record.study, site, screening_date=record.screening_date, values=record.values, answers=record.answers, strata={}, by=None, record=record
        )
    db.session.rollback()
    assert db.session.get(ScreeningRecord, record.id).outcome is ScreeningOutcome.DECLINED_CONSENT


def test_two_monitors_verifying_one_form_at_once_verify_it_once_and_get_no_error(people, subject, make_user, site, live_server):
    make_user("monitor2@example.org", [("defier", site, Role.MONITOR)])
    url = _url(subject)
    post_form(people[Role.COORDINATOR], url, {**ABI, "action": "complete"})
    monitors = [WebUser(live_server, email, PASSWORD) for email in ("monitor@example.org", "monitor2@example.org")]
    for round_ in range(3):
        if round_:  # a corrected value drops the verification: a form to verify again
            post_form(people[Role.COORDINATOR], url, {**ABI, "pt_right": str(121 + round_), "reason_for_change": "typo", "action": "complete"})
        forms = [monitor.hidden_fields(url, "/verify") for monitor in monitors]
        responses = at_once([lambda m=m, h=h: m.post(f"{url}/1/verify", {}, hidden=h) for m, h in zip(monitors, forms, strict=False)])
        assert all(not isinstance(r, Exception) and r.status_code == 302 for r in responses), responses
        assert _abi_entry().verified_at is not None


def test_a_flag_confirmed_while_an_adverse_event_is_added_gives_both_entries(people, abi_flag, live_server):
    url = _url(abi_flag.subject, "adverse_events")
    investigator, coordinator = (WebUser(live_server, email, PASSWORD) for email in ("investigator@example.org", "coordinator@example.org"))
    flag_form, new_form = investigator.hidden_fields(f"/flags/{abi_flag.id}"), coordinator.hidden_fields(f"{url}/new")
    responses = at_once(
        [
            lambda: investigator.post(f"/flags/{abi_flag.id}", {"action": "confirm"}, hidden=flag_form),
            lambda: coordinator.post(f"{url}/new", {"ae_term": "Headache", "action": "draft"}, hidden=new_form),
        ]
    )
    assert [getattr(r, "status_code", r) for r in responses] == [302, 302]
    assert sorted(db.session.scalars(select(CrfEntry.sequence).where(CrfEntry.instrument == "adverse_events")).all()) == [1, 2]


def test_a_signature_made_before_the_digest_covered_the_visit_date_still_holds(people, subject):
    from ecrf.crfs.services import data_digest, entry_data

    post_form(people[Role.COORDINATOR], _url(subject), {**ABI, "action": "complete"})
    entry, item = _abi_entry(), instrument("abi")
    old = Signature(
        entry=entry,
        user_id=entry.created_by_id,
        printed_name="Dr Before",
        meaning="approved",
        digest_version=1,
        data_sha256=data_digest(item, entry_data(item, entry), entry, version=1),
    )
    db.session.add(old)
    db.session.commit()
    assert signature_holds(old, item, entry)
    db.session.get(AbiData, entry.id).pt_right = 121  # its data still bind it
    assert not signature_holds(old, item, entry)
    db.session.rollback()


def test_arms_and_visits_removed_from_a_protocol_never_give_their_id_to_a_later_one(app):
    from ecrf.studies.models import Arm, Study, VisitDefinition

    study = db.session.scalar(select(Study).where(Study.code == "defier"))
    for model, values in (
        (Arm, {"label": "Removed", "position": 9}),
        (VisitDefinition, {"label": "Removed", "position": 99, "target_day": 999, "days_before": 0, "days_after": 0}),
    ):
        removed = model(study_id=study.id, code="removed", **values)
        db.session.add(removed)
        db.session.commit()
        removed_id = removed.id
        db.session.delete(removed)
        db.session.commit()
        again = model(study_id=study.id, code="again", **values)
        db.session.add(again)
        db.session.commit()
        assert again.id > removed_id, model.__name__
        db.session.delete(again)
        db.session.commit()


@pytest.mark.commits
def test_an_enrolment_never_goes_ahead_on_screening_values_corrected_meanwhile(site, make_screening):
    from ecrf.errors import InvalidInput
    from ecrf.screening.services import enrol_from_screening

    record = make_screening("defier", site)  # eligible, as the enrolment reads it ...
    _committed_elsewhere(  # ... when a correction commits: a criterion now fails
        "UPDATE screening_records SET outcome = 'screen_failure', failed_criteria = :failed, updated_at = :at WHERE id = :id",
        id=record.id,
        failed='["x"]',
        at=datetime(2027, 6, 1, 4, 1, tzinfo=UTC),
    )
    with pytest.raises(InvalidInput, match="was changed by someone else a moment ago, so nothing was done"):
        enrol_from_screening(record, consent_date=date(2027, 6, 1), index_date=date(2027, 6, 1), arm_code="des")
    db.session.rollback()
    assert _count(Subject) == 0 and db.session.get(ScreeningRecord, record.id).outcome is ScreeningOutcome.SCREEN_FAILURE


def test_signing_a_visit_and_changing_its_date_at_once_never_deadlock_nor_leave_a_broken_signature(people, make_subject, site, live_server):
    from ecrf.crfs.input import EntryInput
    from ecrf.crfs.services import save_entry

    coordinator, investigator = (WebUser(live_server, email, PASSWORD) for email in ("coordinator@example.org", "investigator@example.org"))
    for _ in range(3):
        subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
        visit = subject.visits[2]
        record_visit_date(visit, date(2027, 4, 1))
        for code in ("duplex", "abi"):  # two forms to sign: taken in protocol order by one, in another order by the other
            save_entry(visit, instrument(code), EntryInput(values={}, complete=True), entry=None)
        db.session.commit()
        visit_url = f"/subjects/{subject.subject_code}/visits/m3"
        date_form, sign_form = coordinator.hidden_fields(visit_url), investigator.hidden_fields(visit_url, f"{visit_url}/sign")
        responses = at_once(
            [
                lambda url=visit_url, form=date_form: coordinator.post(url, {"visit_date": "2027-04-02", "reason_for_change": "typo"}, hidden=form),
                lambda url=visit_url, form=sign_form: investigator.post(f"{url}/sign", SIGNER, hidden=form),
            ]
        )
        assert all(not isinstance(r, Exception) and r.status_code in (200, 302) for r in responses), responses
        db.session.expire_all()
        for entry in db.session.scalars(select(CrfEntry).where(CrfEntry.visit_id == visit.id)):
            for signature in entry.valid_signatures:
                assert signature_holds(signature, instrument(entry.instrument), entry)


def test_a_declines_reason_goes_with_the_decline_only_not_with_later_changes_of_the_same_transaction(site, make_screening, make_user):
    """The demo and an import make many changes in one transaction: a decline's reason must not follow the others."""
    declined, later = make_screening("defier", site), make_screening("defier", site)
    mark = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    decline_consent(declined, None)
    later.screening_date = date(2027, 5, 30)  # a change after the decline, in the same transaction
    db.session.flush()
    reasons = dict(
        db.session.execute(select(AuditEvent.object_id, AuditEvent.reason).where(AuditEvent.id > mark, AuditEvent.object_type == "screening_records")).all()
    )
    assert reasons[str(declined.id)] and "declined" in reasons[str(declined.id)]
    assert reasons[str(later.id)] is None
