"""The API's way in: tokens authenticate, errors are JSON in one shape, the document and its docs page are served."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from ecrf.api.models import ApiToken
from ecrf.api.paging import encode_cursor
from ecrf.api.tokens import create_token, revoke_token
from ecrf.audit.models import AuditEvent
from ecrf.auth.models import Role
from ecrf.clock import now_utc
from ecrf.extensions import db


def _coordinator(make_site, make_user):
    site = make_site("SH01", ["defier"])
    return make_user("coordinator@example.org", [("defier", site, Role.COORDINATOR)])


def test_a_request_without_a_token_is_refused_401_with_a_bearer_challenge(client):
    response = client.get("/api/v1/studies")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json == {"errors": [{"field": None, "message": "Authorization: send a personal access token as 'Authorization: Bearer <token>'."}]}


def test_a_browser_session_is_not_a_way_into_the_api(make_site, make_user, login):
    client = login(_coordinator(make_site, make_user))
    assert client.get("/api/v1/studies").status_code == 401


def test_a_token_lists_the_studies_and_sites_of_its_users_memberships(make_site, make_user, api):
    user = _coordinator(make_site, make_user)
    response = api(user).get("/api/v1/studies")
    assert response.status_code == 200
    [study] = response.json["items"]
    assert study["code"] == "defier"
    assert [(site["code"], site["roles"]) for site in study["sites"]] == [("SH01", ["coordinator"])]


def test_a_revoked_an_expired_or_a_disabled_users_token_is_refused(make_site, make_user, client, clock):
    user = _coordinator(make_site, make_user)
    revoked, revoked_secret = create_token(user, "revoked", 30)
    _expiring, expiring_secret = create_token(user, "expiring", 1)
    revoke_token(revoked)
    db.session.commit()
    bearer = lambda secret: {"Authorization": f"Bearer {secret}"}  # noqa: E731
    assert client.get("/api/v1/studies", headers=bearer(revoked_secret)).status_code == 401
    assert client.get("/api/v1/studies", headers=bearer(expiring_secret)).status_code == 200
    with clock(now_utc() + timedelta(days=1, seconds=1)):
        assert client.get("/api/v1/studies", headers=bearer(expiring_secret)).status_code == 401
    _token, fresh = create_token(user, "fresh", 30)
    user.active = False
    db.session.commit()
    assert client.get("/api/v1/studies", headers=bearer(fresh)).status_code == 401


def test_only_a_digest_of_the_token_is_stored(make_site, make_user):
    user = _coordinator(make_site, make_user)
    token, secret = create_token(user, "lab", 30)
    db.session.commit()
    stored = db.session.scalar(select(ApiToken).where(ApiToken.id == token.id))
    assert secret not in (stored.token_sha256, stored.prefix, stored.name) and len(stored.token_sha256) == 64
    trail = db.session.scalars(select(AuditEvent.new_value).where(AuditEvent.object_type == "api_tokens")).all()
    assert secret not in trail and stored.token_sha256 not in trail


def test_unknown_paths_and_methods_answer_in_the_api_error_shape(make_site, make_user, api):
    client = api(_coordinator(make_site, make_user))
    missing = client.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.json["errors"][0]["field"] is None
    not_found = {"errors": [{"field": None, "message": "There is no such object, or it belongs to a site you are not a member of."}]}
    for url in ("/api/v1/no-such-thing", "/api/v1/entries/999999", "/api/v1/entries/%00", "/api/v1"):
        assert client.get(url).json == not_found, url  # one wording for "not found" under the API, whoever answers
    wrong_method = client.open("DELETE", "/api/v1/studies")
    assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["Allow"] and wrong_method.json["errors"]


def test_a_token_records_its_last_use(make_site, make_user, api):
    user = _coordinator(make_site, make_user)
    client = api(user)
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert token.last_used_at is None
    client.get("/api/v1/studies")
    db.session.refresh(token)
    assert token.last_used_at is not None


def test_the_openapi_document_is_3_1_and_describes_the_routes(client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/studies" in document["paths"]
    assert document["components"]["securitySchemes"]["token"] == {"type": "http", "scheme": "bearer"}


def test_the_docs_page_loads_swagger_ui_from_the_app_itself(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "https://" not in page and "/api/v1/docs/assets/swagger-ui-bundle.js" in page
    script = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.data
    assert client.get("/api/v1/docs/assets/swagger-editor-bundle.js").status_code == 404


def test_a_read_only_token_is_refused_403_on_every_write_route(app, make_site, make_user, api):
    client = api(_coordinator(make_site, make_user), read_only=True)
    writes = [
        (method, rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in sorted(rule.methods & {"POST", "PUT", "PATCH", "DELETE"})
    ]
    assert ("POST", "/api/v1/subjects/<subject_code>/visits/<visit_code>/entries") in [(method, rule.rule) for method, rule in writes]
    for method, rule in writes:
        url = rule.rule.replace("<int:", "<").replace("<", "").replace(">", "")
        url = "/".join("1" if part.endswith("_id") else part for part in url.split("/"))
        response = client.open(method, url, json={})
        assert response.status_code == 403 and "read-only" in response.json["errors"][0]["message"], (method, url, response.status_code)


def test_a_control_character_in_a_body_sent_as_another_type_than_json_is_refused_all_the_same(make_site, make_user, api, make_subject):
    """The guard reads the body as JSON whatever its Content-Type claims: a NUL never reaches the database."""
    user = _coordinator(make_site, make_user)
    subject = make_subject("defier", user.memberships[0].site, date(2026, 1, 10))
    url = f"/api/v1/subjects/{subject.subject_code}/visits/m1/missed"
    response = api(user).post(url, data='{"reason": "moved\\u0000away"}', headers={"Content-Type": "text/plain"})
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "reason"
    db.session.refresh(subject.visits[1])
    assert not subject.visits[1].missed


def test_a_body_not_sent_as_json_is_refused_naming_the_content_type(make_site, make_user, api, make_subject):
    user = _coordinator(make_site, make_user)
    subject = make_subject("defier", user.memberships[0].site, date(2026, 1, 10))
    response = api(user).post(
        f"/api/v1/subjects/{subject.subject_code}/visits/m1/missed", data='{"reason": "moved away"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 422
    assert response.json["errors"] == [{"field": None, "message": "body: send a JSON object, with Content-Type: application/json."}]


def test_a_cursor_beyond_the_largest_id_is_refused_not_compared(make_site, make_user, api):
    """Ids are INTEGER columns: PostgreSQL fails on a larger number compared with one (a 500 before)."""
    user = _coordinator(make_site, make_user)
    response = api(user).get(f"/api/v1/studies/defier/subjects?cursor={encode_cursor(2**31)}")
    assert response.status_code == 422 and response.json["errors"][0]["field"] == "cursor"
    assert api(user).get(f"/api/v1/studies/defier/subjects?cursor={encode_cursor(2**31 - 1)}").status_code == 200
