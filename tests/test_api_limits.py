"""Rate limits of the API per user (Flask-Limiter): over the limit a token gets 429 in the API's error shape with
Retry-After; all tokens of one user share one count, so more tokens give no more requests, while another user
counts apart; the window's end lets it in again; the documentation, requests without a usable token and the
browser are never counted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import url_for

from ecrf import create_app
from ecrf.api.limits import WRITE_METHODS, RateLimitSettingInvalid, limiter
from ecrf.auth.models import Role
from ecrf.clock import now_utc


@pytest.fixture
def low_limits(app, monkeypatch):
    """Limits a test reaches in a few requests (read by the limiter at each request), on fresh counts."""
    monkeypatch.setitem(app.config, "ECRF_API_RATE_LIMIT", "3 per minute")
    monkeypatch.setitem(app.config, "ECRF_API_WRITE_RATE_LIMIT", "2 per minute")
    limiter.reset()
    yield
    limiter.reset()


@pytest.fixture
def coordinator(make_site, make_user):
    site = make_site("SH01", ["defier"])
    return make_user("coordinator@example.org", [("defier", site, Role.COORDINATOR)])


def test_a_token_over_its_limit_gets_429_with_retry_after_in_the_api_error_shape(low_limits, coordinator, api, clock):
    with clock(now_utc()):
        lab = api(coordinator, name="lab")
        assert [lab.get("/api/v1/studies").status_code for _ in range(3)] == [200, 200, 200]
        refused = lab.get("/api/v1/studies")
    assert refused.status_code == 429
    assert refused.json == {
        "errors": [
            {
                "field": None,
                "message": "Too many requests with the token 'lab': the limit is 3 per 1 minute, for all your tokens together. Try again in 60 seconds.",
            }
        ]
    }
    assert refused.headers["Retry-After"] == "60"


def test_the_tokens_of_one_user_share_one_count(low_limits, coordinator, api):
    lab, sync, spare = api(coordinator, name="lab"), api(coordinator, name="sync"), api(coordinator, name="spare")
    assert [client.get("/api/v1/studies").status_code for client in (lab, sync, spare)] == [200, 200, 200]
    assert [client.get("/api/v1/studies").status_code for client in (lab, sync, spare)] == [429, 429, 429]


def test_another_users_token_is_counted_apart(low_limits, coordinator, make_user, api):
    lab = api(coordinator, name="lab")
    for _ in range(3):
        lab.get("/api/v1/studies")
    assert lab.get("/api/v1/studies").status_code == 429
    other = make_user("other@example.org", [(membership.study.code, membership.site, membership.role) for membership in coordinator.memberships])
    assert api(other, name="lab").get("/api/v1/studies").status_code == 200


def test_the_end_of_the_window_lets_the_token_in_again(low_limits, coordinator, api, clock):
    start = now_utc()
    lab = api(coordinator, name="lab")
    with clock(start):
        for _ in range(3):
            lab.get("/api/v1/studies")
        assert lab.get("/api/v1/studies").status_code == 429
    with clock(start + timedelta(seconds=30)):
        refused = lab.get("/api/v1/studies")
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    with clock(start + timedelta(seconds=61)):
        assert lab.get("/api/v1/studies").status_code == 200


def test_the_documentation_and_requests_without_a_usable_token_are_not_counted(low_limits, coordinator, api, client):
    for _ in range(5):
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/api/v1/docs").status_code == 200
        assert client.get("/api/v1/studies", headers={"Authorization": "Bearer ecrf_not-a-token"}).status_code == 401
    assert api(coordinator).get("/api/v1/studies").status_code == 200


def test_the_browser_is_not_limited(low_limits, coordinator, login):
    browser = login(coordinator)
    assert {browser.get("/studies/").status_code for _ in range(5)} == {200}


def _write_urls(app) -> list[tuple[str, str]]:
    """Each write route of the API, with placeholder values in its URL (the limit counts before the view runs)."""
    urls = []
    for rule in app.url_map.iter_rules():
        methods = sorted(set(WRITE_METHODS) & (rule.methods or set()))
        if rule.endpoint.startswith("api.") and methods:
            values = {name: 1 if type(rule._converters[name]).__name__ == "IntegerConverter" else "x" for name in rule.arguments}
            with app.test_request_context():
                urls.append((methods[0], url_for(rule.endpoint, **values)))
    return urls


def test_writes_have_a_lower_limit_of_their_own_and_count_toward_the_other(app, low_limits, monkeypatch, coordinator, api):
    urls = _write_urls(app)
    if not urls:
        pytest.skip("the API has no write route yet")
    monkeypatch.setitem(app.config, "ECRF_API_RATE_LIMIT", "5 per minute")
    method, url = urls[0]
    lab = api(coordinator, name="lab")
    answers = [lab.open(method, url, json={}) for _ in range(3)]
    assert 429 not in [answer.status_code for answer in answers[:2]] and answers[2].status_code == 429
    assert (
        answers[2].json["errors"][0]["message"].startswith("Too many writes with the token 'lab': the limit is 2 per 1 minute, for all your tokens together.")
    )
    assert [lab.get("/api/v1/studies").status_code for _ in range(3)] == [200, 200, 429]  # 3 writes + 2 reads = 5


def test_a_limit_that_cannot_be_read_stops_the_app_at_start_and_an_empty_one_does_not(tmp_path):
    database = {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}", "ECRF_INSTANCE_DIR": str(tmp_path)}
    assert create_app("testing", {**database, "ECRF_API_RATE_LIMIT": ""}).config["ECRF_API_RATE_LIMIT"] == ""
    with pytest.raises(RateLimitSettingInvalid, match="ECRF_API_WRITE_RATE_LIMIT: 'lots' is not a rate limit"):
        create_app("testing", {**database, "ECRF_API_WRITE_RATE_LIMIT": "lots"})


def test_an_empty_limit_is_no_limit(app, low_limits, monkeypatch, coordinator, api):
    monkeypatch.setitem(app.config, "ECRF_API_RATE_LIMIT", "")
    lab = api(coordinator, name="lab")
    assert {lab.get("/api/v1/studies").status_code for _ in range(5)} == {200}
