"""The live API against its own OpenAPI document (schemathesis): for every operation the document lists — whatever
routes exist, none named here — generated requests never get a 500, and every answer's status, content type and
body are ones the document declares.

The app runs on the suite's live server (a real port, real commits) and schemathesis sends its requests there, with
the token of a user who has memberships and data: subjects at two sites of two studies, forms entered, a query
raised, safety flags. The operations come from the document as the app serves it, read when the module is
collected (pytest parametrizes then, before any server runs: an app of its own answers); a test checks that the
live server serves the very same document. (schemathesis's `from_fixture`, which would load it from the live
server itself, breaks on pytest 9: it reads `Function._nodeid`, which pytest 9 no longer has.)

Writes are run too: they land in the test database (committed, then emptied after each operation like every
live-server test), and the user can only touch that test data. Examples are few per operation (the suite stays
well inside CI's time); `ECRF_SCHEMATHESIS_EXAMPLES` asks for more in a longer run.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ecrf import create_app
from ecrf.api.tokens import create_token
from ecrf.auth.models import Role
from ecrf.crfs.input import EntryInput
from ecrf.crfs.registry import instrument
from ecrf.crfs.services import save_entry
from ecrf.extensions import db
from ecrf.queries.services import raise_query
from ecrf.safety.services import refresh_flags
from ecrf.visits.services import record_visit_date
from tests.test_instrument_declarations import typed_example
from tests.test_instruments_generic import EXAMPLES

#: Generated requests per operation (the examples and boundary cases of the document come on top).
EXAMPLES_PER_OPERATION = int(os.environ.get("ECRF_SCHEMATHESIS_EXAMPLES", "20"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _abi(visit, user, complete: bool):
    described = instrument("abi")
    values = {item.name: typed_example(item.kind, EXAMPLES["abi"].get(item.name, ""), "Asia/Shanghai") for item in described.items.entered}
    return save_entry(visit, described, EntryInput(values=values, complete=complete, by=user), entry=None)


@pytest.fixture
def token_of_a_user_with_data(make_site, make_user, make_subject) -> str:
    """A token of a coordinator, investigator and monitor of DEFIER at SH01 (and coordinator of LEG-DEB there), with
    subjects at SH01 and at HZ01 (another site's), a complete and a draft form, an open query, safety flags (overdue
    visits)."""
    sh01, hz01 = make_site("SH01", ["defier", "leg-deb"]), make_site("HZ01", ["defier"])
    roles = [("defier", sh01, role) for role in (Role.COORDINATOR, Role.INVESTIGATOR, Role.MONITOR)]
    user = make_user("api@example.org", [*roles, ("leg-deb", sh01, Role.COORDINATOR)], name="Api User")
    raiser = make_user("monitor@example.org", [("defier", sh01, Role.MONITOR)])
    index = date.today() - timedelta(days=100)
    subjects = [make_subject("defier", sh01, index, arm="dcb"), make_subject("defier", sh01, index, arm="des"), make_subject("defier", hz01, index)]
    make_subject("leg-deb", sh01, index)
    for subject in subjects:
        baseline = subject.visits[0]
        record_visit_date(baseline, baseline.target_date, by=user)
    complete = _abi(subjects[0].visits[0], user, complete=True)
    _abi(subjects[1].visits[0], user, complete=False)
    raise_query(complete, "pt_right", "Source says 125?", raiser)
    refresh_flags(subjects)
    _token, secret = create_token(user, "schemathesis", 30)
    db.session.commit()
    return secret


def _served_document() -> dict:
    """The OpenAPI document as the app serves it at /api/v1/openapi.json (it needs no database)."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200, response.status_code
    return response.json


schema = schemathesis.openapi.from_dict(
    _served_document(),
    config=schemathesis.Config.from_dict({"generation": {"max-examples": EXAMPLES_PER_OPERATION}, "cache": {"enabled": False}}),
)


def test_the_live_server_serves_the_document_the_operations_come_from(live_server):
    assert requests.get(f"{live_server}/api/v1/openapi.json", timeout=30).json() == schema.raw_schema


@schema.parametrize()
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # the data stays for every example
def test_every_operation_answers_as_its_document_says_and_never_500(case, live_server, token_of_a_user_with_data):
    case.call_and_validate(base_url=live_server, headers={"Authorization": f"Bearer {token_of_a_user_with_data}"}, checks=CHECKS)
