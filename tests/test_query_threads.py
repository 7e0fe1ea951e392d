"""Who closes and re-opens a query: the monitor who raised it, or a data manager of its study at its site; no one else."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import current_app
from sqlalchemy import select

from ecrf.auth.models import Role
from ecrf.extensions import db
from ecrf.queries.models import DataQuery, QueryStatus
from ecrf.visits.services import record_visit_date
from tests.conftest import PASSWORD, csrf_token, post_form

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
ABI = {"target_limb": "left", "brachial_right": "140", "brachial_left": "130", "pt_right": "120", "dp_right": "110", "pt_left": "90", "dp_left": "84"}
#: Each person's role at SH01 (DEFIER); "other monitor" monitors the same site but did not raise the query.
PEOPLE = {"coordinator": Role.COORDINATOR, "raiser": Role.MONITOR, "other monitor": Role.MONITOR, "data manager": Role.DATA_MANAGER}


@pytest.fixture
def site(make_site):
    return make_site("SH01", ["defier"])


@pytest.fixture
def clients(site, make_user):
    """A logged-in client per person."""
    result = {}
    for who, role in PEOPLE.items():
        user = make_user(f"{who.replace(' ', '.')}@example.org", [("defier", site, role)], name=who.title())
        client = current_app.test_client()
        assert post_form(client, "/login", {"email": user.email, "password": PASSWORD}).status_code == 302
        result[who] = client
    return result


@pytest.fixture
def answered_query(clients, site, make_subject):
    """The URL of a query the raiser raised on a completed ABI form and the coordinator answered."""
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    record_visit_date(subject.visits[2], date(2027, 4, 1))
    db.session.commit()
    form = f"/subjects/{subject.subject_code}/visits/m3/forms/abi"
    assert post_form(clients["coordinator"], form, {**ABI, "action": "complete"}).status_code == 302
    thread = _post(clients["raiser"], f"{form}/1/queries", {"field": "pt_right", "text": "Source says 125"}).location
    assert _post(clients["coordinator"], thread, {"action": "answer", "text": "Corrected to 125"}).status_code == 302
    return thread


def _post(client, url: str, data: dict):
    return client.post(url, data={"csrf_token": csrf_token(client, "/"), **data})


def _thread() -> tuple[QueryStatus, list[str]]:
    db.session.expire_all()
    query = db.session.scalar(select(DataQuery))
    return query.status, [message.kind for message in query.messages]


def _buttons(page: str) -> set[str]:
    return set(re.findall(r'name="action" value="(\w+)"', page))


@pytest.mark.parametrize("step", ["close", "reopen"])
def test_another_monitor_of_the_site_may_not_close_or_reopen_a_query_and_the_thread_is_unchanged(clients, answered_query, step):
    before = _thread()
    assert _post(clients["other monitor"], answered_query, {"action": step, "text": "Not mine to judge"}).status_code == 403
    assert _thread() == before == (QueryStatus.ANSWERED, ["raise", "answer"])


def test_only_the_raiser_and_the_data_manager_see_close_and_reopen(clients, answered_query):
    assert _buttons(clients["raiser"].get(answered_query).get_data(as_text=True)) == {"close", "reopen"}
    assert _buttons(clients["data manager"].get(answered_query).get_data(as_text=True)) == {"close", "reopen"}
    other = clients["other monitor"].get(answered_query)
    assert other.status_code == 200 and _buttons(other.get_data(as_text=True)) == set()
    assert _buttons(clients["coordinator"].get(answered_query).get_data(as_text=True)) == set()  # answered: nothing to answer


def test_the_raiser_reopens_and_a_data_manager_closes_a_query(clients, answered_query):
    assert _post(clients["raiser"], answered_query, {"action": "reopen", "text": "Also check DP"}).status_code == 302
    _post(clients["coordinator"], answered_query, {"action": "answer", "text": "DP checked"})
    assert _post(clients["data manager"], answered_query, {"action": "close", "text": "Accepted"}).status_code == 302
    assert _thread() == (QueryStatus.CLOSED, ["raise", "answer", "reopen", "answer", "close"])
    assert _post(clients["data manager"], answered_query, {"action": "reopen", "text": "Reviewed again"}).status_code == 302
    assert _thread()[0] is QueryStatus.OPEN


def test_an_answered_query_waits_on_the_worklist_of_those_who_may_close_it_only(clients, answered_query):
    path = answered_query.split("localhost")[-1]
    assert f'href="{path}"' in clients["raiser"].get("/").get_data(as_text=True)
    assert f'href="{path}"' in clients["data manager"].get("/").get_data(as_text=True)
    assert f'href="{path}"' not in clients["other monitor"].get("/").get_data(as_text=True)
