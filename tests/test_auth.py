"""Logging in and out."""

from __future__ import annotations

import importlib

import pytest

import config
from ecrf import create_app
from ecrf.extensions import db
from tests.conftest import PASSWORD, csrf_token, post_form


def test_login_lands_on_the_worklist_and_logout_ends_the_session(client, make_user):
    make_user("c@example.org")
    response = post_form(client, "/login", {"email": "C@Example.org ", "password": PASSWORD})
    assert response.status_code == 302 and response.location == "/"
    assert "Worklist" in client.get("/").get_data(as_text=True)
    response = _logout(client)
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def _logout(client):
    """Press "Log out" (a form on every page)."""
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/")})


def test_a_wrong_password_is_refused_and_the_email_stays(client, make_user):
    make_user("c@example.org")
    response = post_form(client, "/login", {"email": "c@example.org", "password": "wrong"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Email or password is not correct." in page and 'value="c@example.org"' in page


def test_a_disabled_account_cannot_log_in(client, make_user):
    user = make_user("c@example.org")
    user.active = False
    db.session.commit()
    assert "Email or password is not correct." in post_form(client, "/login", {"email": "c@example.org", "password": PASSWORD}).get_data(as_text=True)


def test_login_follows_next_only_within_the_site(client, make_user):
    make_user("c@example.org")
    response = post_form(client, "/login?next=https://evil.example/", {"email": "c@example.org", "password": PASSWORD})
    assert response.location == "/"
    _logout(client)
    response = post_form(client, "/login?next=/studies/", {"email": "c@example.org", "password": PASSWORD})
    assert response.location == "/studies/"


def test_a_form_without_csrf_token_is_refused_with_an_explanation(client, make_user):
    make_user("c@example.org")
    response = client.post("/login", data={"email": "c@example.org", "password": PASSWORD})
    assert response.status_code == 400 and "Nothing was saved" in response.get_data(as_text=True)


def test_environment_overrides_the_configuration(monkeypatch):
    monkeypatch.setenv("ECRF_DATABASE_URL", "sqlite:////tmp/elsewhere.sqlite3")
    monkeypatch.setenv("MAIL_PORT", "2525")
    importlib.reload(config)
    try:
        assert config.Config.SQLALCHEMY_DATABASE_URI == "sqlite:////tmp/elsewhere.sqlite3"
        assert config.Config.MAIL_PORT == 2525
    finally:
        monkeypatch.undo()
        importlib.reload(config)


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


def test_pages_load_bootstrap_from_the_app_itself_not_a_cdn(client):
    page = client.get("/login").get_data(as_text=True)
    assert "https://" not in page and "//cdn" not in page
    for path in ("/bootstrap/static/css/bootstrap.min.css", "/bootstrap/static/js/bootstrap.min.js", "/static/ecrf.css"):
        assert path in page
        assert client.get(path).status_code == 200, path
