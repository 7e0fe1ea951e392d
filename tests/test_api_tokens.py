"""Personal access tokens on the user's own account page: made (the secret shown once), listed with their last use
and status, revoked after a confirming page (one's own only); their history from the audit trail, and the way in
(`via`) on the audit trail's pages and export."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from ecrf.api.models import ApiToken
from ecrf.api.tokens import create_token
from ecrf.audit.models import AuditEvent
from ecrf.audit.trail import set_actor
from ecrf.auth.models import Role
from ecrf.clock import now_utc
from ecrf.exports.audit_csv import audit_scope, write_audit_csv
from ecrf.extensions import db
from tests.conftest import page_fields, post_form

SECRET = re.compile(r"ecrf_[A-Za-z0-9_-]{43}")


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier"])


@pytest.fixture
def coordinator(site, make_user):
    return make_user("coordinator@example.org", [("defier", site, Role.COORDINATOR)])


def _tokens(user) -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


def _make(client, name="core lab", days="90", read_only=False):
    data = {"name": name, "days": days, **({"read_only": "y"} if read_only else {})}
    return client.post("/account/tokens", data={**page_fields(client, "/account", "/account/tokens"), **data})


def _bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_the_account_page_is_linked_from_every_page_and_offers_a_token_of_90_days(coordinator, login):
    client = login(coordinator)
    assert 'href="/account"' in client.get("/").get_data(as_text=True)
    page = client.get("/account").get_data(as_text=True)
    assert "API tokens" in page and "No token yet." in page
    assert re.search(r'name="days"[^>]*value="90"', page)


def test_a_token_made_on_the_account_page_shows_its_secret_once_and_works(coordinator, login, client):
    browser = login(coordinator)
    response = _make(browser, name="core lab upload", days="30")
    assert response.status_code == 200
    answer = response.get_data(as_text=True)
    [secret] = set(SECRET.findall(answer))
    assert "only time the token is shown" in answer and "no-store" in response.headers["Cache-Control"]
    [token] = _tokens(coordinator)
    assert (token.name, token.read_only, token.expires_at - token.created_at) == ("core lab upload", False, timedelta(days=30))
    account = browser.get("/account").get_data(as_text=True)
    assert secret not in account and token.token_sha256 not in account
    row = re.search(rf'<tr id="token-{token.id}">.*?</tr>', account, re.S).group(0)
    assert "core lab upload" in row and f"{secret[:11]}…" in row and "never" in row and "read and write" in row
    assert 'data-status="active"' in row
    assert client.get("/api/v1/studies", headers=_bearer(secret)).status_code == 200


def test_a_double_clicked_make_gives_one_token(coordinator, login):
    client = login(coordinator)
    rendered = page_fields(client, "/account", "/account/tokens")
    first = client.post("/account/tokens", data={**rendered, "name": "lab", "days": "90"})
    second = client.post("/account/tokens", data={**rendered, "name": "lab", "days": "90"})
    assert first.status_code == 200 and SECRET.search(first.get_data(as_text=True))
    assert second.status_code == 302 and second.location == "/account"
    assert "the token was made once" in client.get("/account").get_data(as_text=True)
    assert len(_tokens(coordinator)) == 1


@pytest.mark.parametrize(
    "values, message",
    [
        ({"days": "0"}, "Valid for (days): enter a whole number from 1 to 365."),
        ({"days": "366"}, "Valid for (days): enter a whole number from 1 to 365."),
        ({"days": "ninety"}, "Valid for (days): not valid; enter a whole number from 1 to 365."),
        ({"days": ""}, "Valid for (days): required; enter a whole number from 1 to 365."),
        ({"name": ""}, "Name: required; enter text of at most 80 characters."),
        ({"name": "x" * 81}, "Name: at most 80 characters."),
        ({"name": "   "}, "Name: give the token a name, e.g. what will use it."),
    ],
)
def test_a_bad_name_or_lifetime_is_refused_naming_the_field(coordinator, login, values, message):
    client = login(coordinator)
    data = {"name": "lab", "days": "90", **values}
    response = _make(client, **data)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page and not SECRET.search(page)
    assert _tokens(coordinator) == []


def test_a_read_only_token_is_made_so_and_listed_so(coordinator, login):
    client = login(coordinator)
    _make(client, name="reader", read_only=True)
    [token] = _tokens(coordinator)
    assert token.read_only
    assert '<td class="access">read-only</td>' in client.get("/account").get_data(as_text=True)


def test_revoking_asks_first_then_ends_the_token_for_good(coordinator, login, client):
    browser = login(coordinator)
    secret = SECRET.search(_make(browser, name="lab").get_data(as_text=True)).group(0)
    [token] = _tokens(coordinator)
    confirm = browser.get(f"/account/tokens/{token.id}/revoke")
    assert confirm.status_code == 200 and "Revoke the token “lab”?" in confirm.get_data(as_text=True)
    assert token.revoked_at is None  # asking changes nothing
    response = post_form(browser, f"/account/tokens/{token.id}/revoke", {})
    assert response.status_code == 302 and response.location == "/account"
    db.session.refresh(token)
    assert token.revoked_at is not None
    assert client.get("/api/v1/studies", headers=_bearer(secret)).status_code == 401
    account = browser.get("/account").get_data(as_text=True)
    assert "The token &#39;lab&#39; is revoked" in account and 'data-status="revoked"' in account
    assert f'href="/account/tokens/{token.id}/revoke"' not in account


def test_another_users_token_cannot_be_seen_or_revoked(coordinator, make_user, login):
    other = make_user("other@example.org")
    token, _secret = create_token(other, "theirs", 30)
    db.session.commit()
    client = login(coordinator)
    assert client.get(f"/account/tokens/{token.id}/revoke").status_code == 404
    hidden = page_fields(client, "/account", "/account/tokens")
    assert client.post(f"/account/tokens/{token.id}/revoke", data={"csrf_token": hidden["csrf_token"]}).status_code == 404
    db.session.refresh(token)
    assert token.revoked_at is None
    assert "theirs" not in client.get("/account").get_data(as_text=True)


def test_the_list_shows_the_last_use_and_an_expired_token(coordinator, login, client, clock):
    token, secret = create_token(coordinator, "nightly sync", 1)
    db.session.commit()
    browser = login(coordinator)
    client.get("/api/v1/studies", headers=_bearer(secret))
    db.session.refresh(token)
    row = re.search(rf'<tr id="token-{token.id}">.*?</tr>', browser.get("/account").get_data(as_text=True), re.S).group(0)
    assert f'<td class="last-used">{token.last_used_at.strftime("%Y-%m-%d %H:%M")}</td>' in row
    with clock(now_utc() + timedelta(days=1, minutes=1)):
        row = re.search(rf'<tr id="token-{token.id}">.*?</tr>', login(coordinator).get("/account").get_data(as_text=True), re.S).group(0)
    assert 'data-status="expired"' in row


def test_the_history_of_ones_tokens_shows_who_made_and_revoked_them_never_the_digest(coordinator, login):
    browser = login(coordinator)
    _make(browser, name="lab")
    [token] = _tokens(coordinator)
    post_form(browser, f"/account/tokens/{token.id}/revoke", {})
    page = browser.get("/account").get_data(as_text=True)
    history = re.search(r'<table class="table table-sm" id="token-history">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr><td>[^<]+</td><td>([^<]+)</td>\s*<td>(\w+)</td><td>(\d+)</td><td>(\w*)</td><td class=\"new\">([^<]*)</td></tr>", history)
    assert ("coordinator@example.org", "update", str(token.id), "revoked_at") in [row[:4] for row in rows]
    made: dict[str, str] = {}
    for _who, action, _id, field, value in rows:  # newest first; the trail is never emptied, so an older test's rows for a reused id may follow
        if action == "create":
            made.setdefault(field, value)
    assert made["name"] == "lab" and made["token_sha256"] == "(set)"
    db.session.refresh(token)
    assert token.token_sha256 not in page


def test_the_subject_history_and_the_audit_export_name_the_token_that_wrote(site, coordinator, make_user, make_subject, login, tmp_path):
    monitor = make_user("monitor@example.org", [("defier", site, Role.MONITOR)])
    set_actor(db.session, coordinator, via="API token core lab")  # as the API's token check does for its requests
    subject = make_subject("defier", site, date(2026, 1, 10))
    set_actor(db.session, None)
    written = db.session.scalar(select(func.count()).where(AuditEvent.subject_id == subject.id, AuditEvent.via == "API token core lab"))
    assert written
    page = login(monitor).get(f"/subjects/{subject.subject_code}/history").get_data(as_text=True)
    assert re.search(r"<td>coordinator@example.org<div class=\"via small text-muted\">via API token core lab</div></td>", page)
    path = tmp_path / "audit.csv"
    write_audit_csv(audit_scope(monitor, "defier"), path, date_from=None, date_to=None, progress=lambda done, total: None)
    lines = path.read_text().splitlines()
    assert lines[0].endswith(",reason,via")
    assert sum(line.endswith(",API token core lab") for line in lines) == written


# -- the command line ------------------------------------------------------------------------------------------------


def test_token_create_prints_the_secret_alone_once_and_its_expiry(coordinator, cli, client):
    result = cli.invoke(args=["ecrf", "token", "create", "--as", "Coordinator@Example.org", "--name", "core lab", "--days", "30", "--read-only"])
    assert result.exit_code == 0, result.output
    [secret] = result.stdout.splitlines()
    assert SECRET.fullmatch(secret)
    [token] = _tokens(coordinator)
    assert (token.name, token.read_only) == ("core lab", True)
    assert f"expires {token.expires_at.strftime('%Y-%m-%d %H:%M')} UTC" in result.stderr and "shown only this once" in result.stderr
    assert client.get("/api/v1/studies", headers=_bearer(secret)).status_code == 200
    listed = cli.invoke(args=["ecrf", "token", "list", "--as", "coordinator@example.org"])
    assert listed.exit_code == 0 and secret not in listed.output
    [line] = listed.output.splitlines()
    assert line.split()[:3] == [str(token.id), "core", "lab"] and "read-only" in line and line.endswith("active") and "last used 20" in line


@pytest.mark.parametrize(
    "args, message",
    [
        (["--as", "nobody@example.org", "--name", "lab", "--days", "30"], "Error: --as: no account has the email 'nobody@example.org'"),
        (["--as", "coordinator@example.org", "--name", "lab", "--days", "400"], "Error: --days: a whole number from 1 to 365 (you gave 400)."),
        (["--as", "coordinator@example.org", "--name", "lab", "--days", "0"], "Error: --days: a whole number from 1 to 365 (you gave 0)."),
        (["--as", "coordinator@example.org", "--name", "lab", "--days", "a year"], "'--days': 'a year' is not a valid integer."),
        (["--as", "coordinator@example.org", "--name", "  ", "--days", "30"], "Error: --name: give the token a name, e.g. what will use it."),
        (["--as", "coordinator@example.org", "--name", "x" * 81, "--days", "30"], "Error: --name: at most 80 characters (you gave 81)."),
    ],
)
def test_token_create_refuses_bad_input_naming_the_option(coordinator, cli, args, message):
    result = cli.invoke(args=["ecrf", "token", "create", *args])
    assert result.exit_code != 0
    assert message in result.output
    assert _tokens(coordinator) == []


def test_token_create_refuses_a_disabled_account(coordinator, cli):
    coordinator.active = False
    db.session.commit()
    result = cli.invoke(args=["ecrf", "token", "create", "--as", "coordinator@example.org", "--name", "lab", "--days", "30"])
    assert result.exit_code != 0
    assert result.output.strip() == "Error: coordinator@example.org is disabled: a disabled account cannot have tokens."
    assert _tokens(coordinator) == []


def test_token_revoke_by_name_or_by_id_where_names_repeat(coordinator, cli, client):
    first, first_secret = create_token(coordinator, "lab", 30)
    second, _ = create_token(coordinator, "lab", 30)
    other, other_secret = create_token(coordinator, "sync", 30)
    db.session.commit()
    revoke = lambda *args: cli.invoke(args=["ecrf", "token", "revoke", "--as", "coordinator@example.org", *args])  # noqa: E731
    ambiguous = revoke("--name", "lab")
    assert (
        ambiguous.exit_code != 0
        and f"2 tokens of coordinator@example.org are named 'lab' (ids {first.id}, {second.id}): choose one with --id" in ambiguous.output
    )
    assert revoke("--name", "sync").exit_code == 0
    assert revoke("--id", str(first.id)).exit_code == 0
    db.session.expire_all()
    assert (first.revoked_at is not None, second.revoked_at is None, other.revoked_at is not None) == (True, True, True)
    assert client.get("/api/v1/studies", headers=_bearer(first_secret)).status_code == 401
    assert client.get("/api/v1/studies", headers=_bearer(other_secret)).status_code == 401
    assert "was revoked already" in revoke("--id", str(first.id)).output
    assert "no token named 'sync' that is not revoked already" in revoke("--name", "sync").output
    assert revoke().exit_code != 0 and "give the token by --name or by --id" in revoke().output


def test_token_revoke_cannot_reach_another_accounts_token(coordinator, make_user, cli):
    other = make_user("other@example.org")
    token, _ = create_token(other, "theirs", 30)
    db.session.commit()
    result = cli.invoke(args=["ecrf", "token", "revoke", "--as", "coordinator@example.org", "--id", str(token.id)])
    assert result.exit_code != 0 and f"coordinator@example.org has no token with id {token.id}" in result.output
    db.session.refresh(token)
    assert token.revoked_at is None
