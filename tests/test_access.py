"""Site isolation: a user never reaches another site's data, whatever URL they type."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.exceptions import Forbidden, NotFound

from ecrf.access import Action, SiteNotYours, sites_where, visit_or_404
from ecrf.api.tokens import create_token
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.exports.jobs import start_export
from ecrf.extensions import db
from ecrf.queries.services import raise_query
from ecrf.safety.services import refresh_flags
from tests.conftest import csrf_token, study

#: For each URL argument, a value pointing at the foreign site's data.
FOREIGN_VALUES = {
    "subject_code": "DEF-HZ01-0001",
    "visit_code": "m1",
    "code": "abi",
    "sequence": 1,
    "number": "SCR-DEF-HZ01-0001",
    "query_id": None,  # filled by the outsider fixture: a query on the foreign subject's form
    "entry_id": None,  # filled by the outsider fixture: the foreign subject's form entry (API)
    "flag_id": None,  # filled by the outsider fixture: a flag of the foreign subject
    "site_code": "HZ01",
    "study_code": "defier",
    "user_id": 1,  # admin pages: a coordinator is not an admin, whatever the user
    "membership_id": 1,
    "job_id": None,  # filled by the outsider fixture: an export of the foreign site made by its coordinator
    "token": "not-a-reset-token",
    "token_id": None,  # filled by the outsider fixture: an API token of the foreign coordinator (the owner's page only)  # a reset link never issued (an issued one is a credential: whoever holds it may use it)
}
#: Routes whose only argument is the study: a study the user has no membership in.
STUDY_ONLY = {"study_code": "precise-cal"}


@pytest.fixture
def outsider(make_site, make_user, make_subject, make_screening, login):
    """A coordinator of SH01 (DEFIER only) while HZ01 runs DEFIER and PRECISE CAL with a subject."""
    home = make_site("SH01", ["defier"])
    foreign = make_site("HZ01", ["defier", "precise-cal"])
    subject = make_subject("defier", foreign, date(2026, 1, 10))
    make_screening("defier", foreign)
    foreign_coordinator = make_user("foreign@example.org", [("defier", foreign, Role.COORDINATOR), ("precise-cal", foreign, Role.COORDINATOR)])
    monitor = make_user("foreign.monitor@example.org", [("defier", foreign, Role.MONITOR)])
    entry = CrfEntry(subject_id=subject.id, visit_id=subject.visits[1].id, instrument="abi", status=EntryStatus.COMPLETE)
    db.session.add(entry)
    db.session.flush()
    FOREIGN_VALUES["query_id"] = raise_query(entry, "pt_right", "Source says 120?", monitor).id
    FOREIGN_VALUES["entry_id"] = entry.id
    FOREIGN_VALUES["flag_id"] = refresh_flags([subject])[0].id  # its visits are overdue
    FOREIGN_VALUES["job_id"] = start_export(foreign_coordinator, subject.study, "csv", ["HZ01"]).id
    FOREIGN_VALUES["token_id"] = create_token(foreign_coordinator, "theirs", 30)[0].id
    home_coordinator = make_user("home@example.org", [("defier", home, Role.COORDINATOR)])
    _token, secret = create_token(home_coordinator, "walk", 30)
    db.session.commit()
    client = login(home_coordinator)
    client.api_token = secret  # the same user's token, for the API's routes
    return client


def _foreign_urls(app):
    for rule in app.url_map.iter_rules():
        if not rule.arguments or rule.endpoint.endswith("static"):
            continue
        values = STUDY_ONLY if rule.arguments == {"study_code"} else FOREIGN_VALUES
        missing = rule.arguments - values.keys()
        assert not missing, f"{rule.rule}: add a foreign value for {missing} to this test"
        with app.test_request_context():
            yield rule, app.url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def test_every_route_answers_404_for_another_sites_data(app, outsider):
    walked = []
    for rule, url in _foreign_urls(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if url.startswith("/api/"):  # the API: the same user, by their token
                headers = {"Authorization": f"Bearer {outsider.api_token}"}
                response = outsider.open(url, method=method, headers=headers, json={})
            elif method == "GET":
                response = outsider.get(url)
            else:
                response = outsider.open(url, method=method, data={"csrf_token": csrf_token(outsider, "/")})
            assert response.status_code == 404, f"{method} {url} gave {response.status_code}"
            assert "DEF-HZ01-0001" not in response.get_data(as_text=True)
            walked.append(f"{method} {url}")
    assert len(walked) >= 6, walked
    api_writes = {
        "POST /api/v1/screening/SCR-DEF-HZ01-0001/enrol",
        "POST /api/v1/subjects/DEF-HZ01-0001/visits/m1/date",
        "POST /api/v1/subjects/DEF-HZ01-0001/visits/m1/missed",
    }
    assert api_writes <= set(walked), "the API's writes are walked: access is checked before their body (else 422, not 404)"


def test_lists_show_only_the_users_sites(outsider):
    studies = outsider.get("/studies/").get_data(as_text=True)
    assert "SH01" in studies and "HZ01" not in studies and "PRECISE CAL" not in studies
    worklist = outsider.get("/").get_data(as_text=True)
    assert "DEF-HZ01" not in worklist


def test_pages_need_a_login(client):
    response = client.get("/studies/defier/sites/SH01")
    assert response.status_code == 302 and response.location.startswith("/login?next=")


def test_every_action_says_which_roles_may_do_it():
    from ecrf.access import ALLOWED, Action

    assert set(ALLOWED) == set(Action)


def test_the_sites_a_list_covers_are_the_users_sites_where_their_role_allows_the_action(make_site, make_user):
    sh01, hz01 = make_site("SH01", ["defier"]), make_site("HZ01", ["defier"])
    make_site("BJ01", ["defier"])
    user = make_user("two.sites@example.org", [("defier", sh01, Role.MONITOR), ("defier", hz01, Role.BLINDED_ASSESSOR)])
    defier = study("defier")
    assert sites_where(user, Action.VIEW, defier) == [hz01, sh01]
    assert sites_where(user, Action.VIEW_FLAGS, defier) == [sh01]
    assert sites_where(user, Action.VIEW, defier, "HZ01") == [hz01]
    with pytest.raises(Forbidden):
        sites_where(user, Action.VIEW_FLAGS, defier, "HZ01")  # theirs, but a blinded assessor sees no flags
    with pytest.raises(Forbidden):
        sites_where(user, Action.ENROL, defier)  # nowhere
    with pytest.raises(SiteNotYours) as refused:
        sites_where(user, Action.VIEW, defier, "BJ01")
    assert (refused.value.site_code, refused.value.yours) == ("BJ01", [hz01, sh01])


def test_a_visit_is_found_only_for_a_subject_the_user_sees_and_a_visit_it_has(app, make_site, make_user, make_subject):
    mine, theirs = make_site("SH01", ["defier"]), make_site("HZ01", ["defier"])
    user = make_user("c@example.org", [("defier", mine, Role.COORDINATOR)])
    subject, foreign = make_subject("defier", mine, date(2026, 1, 1)), make_subject("defier", theirs, date(2026, 1, 1))
    assert visit_or_404(user, subject.subject_code, "m1").definition.code == "m1"
    for subject_code, visit_code in ((subject.subject_code, "m99"), (foreign.subject_code, "m1")):
        with pytest.raises(NotFound):
            visit_or_404(user, subject_code, visit_code)
