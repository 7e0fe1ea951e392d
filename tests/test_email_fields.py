"""Every email field takes exactly one address, says so naming the field, and keeps what was typed."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role, User
from ecrf.extensions import db
from ecrf.notify.models import OutboxEmail
from tests.conftest import PASSWORD, post_form

MESSAGE = "Email: enter one address, such as name@hospital.org."
_ERRORS = re.compile(r'<div class="(?:invalid-feedback d-block|alert alert-danger)">([^<]*)</div>')
_EMAIL_VALUE = re.compile(r'<input[^>]*name="email"[^>]*value="([^"]*)"|<input[^>]*value="([^"]*)"[^>]*name="email"')

BAD = [
    "c@example.org, d@example.org",
    "c@example.org;d@example.org",
    "c@example.org d@example.org",
    "c @example.org",
    "c@example.org\r\nBcc: d@example.org",
    "c@example.org\tx",
    "Carla <c@example.org>",
    "c@@example.org",
    "c@example",
    "no address at all",
]


def _errors(response) -> list[str]:
    return [unescape(m) for m in _ERRORS.findall(response.get_data(as_text=True))]


def _typed_value(response) -> str:
    match = _EMAIL_VALUE.search(response.get_data(as_text=True))
    return unescape(match.group(1) or match.group(2))


def _audit_rows() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


@pytest.mark.parametrize("typed", BAD)
def test_the_log_in_page_takes_one_address_and_keeps_the_value(client, make_user, typed):
    make_user("c@example.org")
    before = _audit_rows()
    response = post_form(client, "/login", {"email": typed, "password": PASSWORD})
    assert response.status_code == 200 and _errors(response) == [MESSAGE]
    assert _typed_value(response) == typed
    assert client.get("/").status_code == 302
    assert _audit_rows() == before  # not an attempt at an account: nothing about it enters the trail


@pytest.mark.parametrize("typed", BAD)
def test_the_forgotten_password_page_takes_one_address_and_keeps_the_value(client, make_user, typed):
    make_user("c@example.org")
    response = post_form(client, "/password/forgot", {"email": typed})
    assert response.status_code == 200 and _errors(response) == [MESSAGE]
    assert _typed_value(response) == typed
    assert db.session.scalar(select(func.count(OutboxEmail.id))) == 0


@pytest.mark.parametrize("typed", BAD)
def test_the_new_account_page_takes_one_address_and_keeps_the_value(client, make_site, make_user, login, typed):
    site = make_site("SH01", ["defier"])
    login(make_user("admin@example.org", [("defier", site, Role.ADMIN)]))
    users = db.session.scalar(select(func.count(User.id)))
    response = post_form(client, "/admin/users/new", {"email": typed, "full_name": "N", "password": "long-enough-pw"})
    assert response.status_code == 200 and MESSAGE in _errors(response)
    assert _typed_value(response) == typed
    assert db.session.scalar(select(func.count(User.id))) == users


def test_an_empty_email_is_required_with_a_message_naming_the_field(client):
    response = post_form(client, "/login", {"email": "", "password": "x"})
    assert _errors(response) == ["Email: required; enter one address, such as name@hospital.org."]


def test_an_address_with_spaces_around_it_and_capitals_is_one_address(client, make_user):
    make_user("c@example.org")
    assert post_form(client, "/login", {"email": "  C@Example.ORG ", "password": PASSWORD}).status_code == 302
