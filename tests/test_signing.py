"""The e-signature's identity check (21 CFR 11.200(a)(1)): email and password at the first signature of a session,
the password alone after it; wrong answers are audited and count toward the same lockout as log-ins."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role, User
from ecrf.crfs.models import Signature
from ecrf.extensions import db
from ecrf.visits.services import record_visit_date
from tests.conftest import PASSWORD, page_fields, post_form

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
ABI = {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}


@pytest.fixture
def visit_url(make_site, make_user, make_subject):
    """A DEFIER 3-month visit with a complete ABI, ready to sign."""
    site = make_site("SH01", ["defier"])
    make_user("coordinator@example.org", [("defier", site, Role.COORDINATOR)])
    make_user("investigator@example.org", [("defier", site, Role.INVESTIGATOR)], name="Dr Investigator")
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    url = f"/subjects/{subject.subject_code}/visits/m3"
    coordinator = current_app.test_client()
    post_form(coordinator, "/login", {"email": "coordinator@example.org", "password": PASSWORD})
    post_form(coordinator, f"{url}/forms/abi", {**ABI, "action": "complete"})
    return url


@pytest.fixture
def investigator(visit_url):
    client = current_app.test_client()
    assert post_form(client, "/login", {"email": "investigator@example.org", "password": PASSWORD}).status_code == 302
    return client


def _sign(client, visit_url: str, **data):
    return client.post(f"{visit_url}/sign", data={**page_fields(client, visit_url, f"{visit_url}/sign"), **data})


def _signatures() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Signature.id)).where(Signature.voided_at.is_(None)))


def test_the_first_signature_of_a_session_needs_the_email_and_later_ones_the_password_only(investigator, visit_url):
    page = investigator.get(visit_url).get_data(as_text=True)
    assert "Your email (the account&#39;s)" in page
    refused = _sign(investigator, visit_url, password=PASSWORD).get_data(as_text=True)
    assert "Your email: required at the first signature of a session" in refused and _signatures() == 0
    assert _sign(investigator, visit_url, email="Investigator@Example.org ", password=PASSWORD).status_code == 302
    assert _signatures() == 1
    assert "Your email (the account&#39;s)" not in investigator.get(visit_url).get_data(as_text=True)


def test_a_new_session_asks_for_the_email_again(investigator, visit_url):
    _sign(investigator, visit_url, email="investigator@example.org", password=PASSWORD)
    investigator.post("/logout", data=page_fields(investigator, visit_url, f"{visit_url}/sign"))
    coordinator = current_app.test_client()
    post_form(coordinator, "/login", {"email": "coordinator@example.org", "password": PASSWORD})
    post_form(coordinator, f"{visit_url}/forms/abi", {**ABI, "pt_right": "125", "reason_for_change": "typo", "action": "complete"})
    again = current_app.test_client()  # the signature is void: the form is to sign again, in a new session
    post_form(again, "/login", {"email": "investigator@example.org", "password": PASSWORD})
    assert "Your email (the account&#39;s)" in again.get(visit_url).get_data(as_text=True)


def test_another_accounts_email_is_a_wrong_answer_that_signs_nothing(investigator, visit_url):
    refused = _sign(investigator, visit_url, email="coordinator@example.org", password=PASSWORD).get_data(as_text=True)
    assert "Email or password: not correct" in refused and _signatures() == 0
    failed = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "password_check_failed").order_by(AuditEvent.id.desc())).first()
    assert (failed.user_email, failed.reason) == ("investigator@example.org", "signature")


def test_five_wrong_signature_passwords_lock_the_account_and_end_the_session(investigator, visit_url):
    for _ in range(4):
        page = _sign(investigator, visit_url, email="investigator@example.org", password="not my password").get_data(as_text=True)
        assert "Email or password: not correct" in page
    locked = _sign(investigator, visit_url, email="investigator@example.org", password="not my password")
    assert locked.status_code == 302 and locked.location.endswith("/login")
    assert "this account is locked until" in investigator.get("/login").get_data(as_text=True)
    assert investigator.get(visit_url).status_code == 302  # the session has ended: back to the log-in page
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.email == "investigator@example.org"))
    assert user.locked_until is not None and _signatures() == 0
    assert (
        db.session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.action == "password_check_failed", AuditEvent.reason == "signature", AuditEvent.user_email == user.email
            )
        )
        >= 5
    )
