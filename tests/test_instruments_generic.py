"""Every instrument, over HTTP: registered, enterable as complete from its example, robust to any input."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

import tests.instruments as instrument_tests
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import registry
from ecrf.extensions import db
from ecrf.guards import CONTROL_CHARACTER
from ecrf.protocols import protocols
from ecrf.protocols.instruments import INSTRUMENTS as CATALOGUE
from ecrf.visits.services import record_visit_date
from tests.conftest import csrf_token, post_form
from tests.instruments.conftest import INDEX_DATE, TODAY

NOW = datetime.combine(TODAY, datetime.min.time()).replace(hour=4)  # noon in Shanghai


def _examples() -> dict[str, dict]:
    found: dict[str, dict] = {}
    for info in pkgutil.iter_modules(instrument_tests.__path__):
        if info.name.startswith("test_"):
            found.update(getattr(importlib.import_module(f"tests.instruments.{info.name}"), "EXAMPLES", {}))
    return found


EXAMPLES = _examples()


def _first_use(code: str) -> tuple[str, str, str | None]:
    """(study, visit, arm) of the first protocol visit that needs the instrument."""
    for study, protocol in protocols_by_code().items():
        for visit in protocol.visits:
            if code in visit.instruments:
                return study, visit.code, None
            for arm, codes in visit.arm_instruments.items():
                if code in codes:
                    return study, visit.code, arm
    raise LookupError(code)


def protocols_by_code():
    from pathlib import Path

    from ecrf.protocols import load_protocols

    return load_protocols(Path(__file__).resolve().parent.parent / "ecrf" / "protocols")


def test_every_protocol_instrument_is_registered_with_an_example():
    assert set(registry()) == set(CATALOGUE)
    assert set(EXAMPLES) == set(CATALOGUE)


@pytest.fixture
def enter(make_site, make_user, make_subject, login, clock):
    """Factory: a logged-in coordinator and a subject at the first visit that needs `code`; returns the form URL."""
    site = make_site("SH01", list(protocols()), "Asia/Shanghai")
    user = make_user("c@example.org", [(study, site, Role.COORDINATOR) for study in protocols()])

    def prepare(code: str):
        study, visit_code, arm = _first_use(code)
        with clock(datetime(2026, 1, 1, 4)):
            subject = make_subject(study, site, INDEX_DATE, arm=arm or (protocols()[study].arms[0].code))
        visit = next(v for v in subject.visits if v.definition.code == visit_code)
        with clock(NOW):
            if visit.visit_date is None:
                record_visit_date(visit, visit.target_date)
            db.session.commit()
        login(user)
        base = f"/subjects/{subject.subject_code}/visits/{visit_code}/forms/{code}"
        return (base + "/new") if registry()[code].repeating else base

    return prepare


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_the_example_of_each_instrument_saves_as_complete_and_shows_again(code, enter, client):
    url = enter(code)
    assert client.get(url).status_code == 200
    response = post_form(client, url, {**EXAMPLES[code], "action": "complete"})
    assert response.status_code == 302, re.findall(r'invalid-feedback d-block">([^<]*)<|alert-danger">([^<]*)<', response.get_data(as_text=True))
    entry = db.session.scalar(select(CrfEntry).where(CrfEntry.instrument == code))
    assert entry.status is EntryStatus.COMPLETE
    page = client.get(response.location).get_data(as_text=True)
    for name, value in EXAMPLES[code].items():
        if isinstance(value, str) and value and not value.startswith(("True", "False", "y")) and len(value) > 1:
            assert value in page, f"{code}.{name}={value!r} not shown after saving"


def _values_for(form_class, name: str) -> st.SearchStrategy:
    """Anything a browser (or an attacker) might post for one field."""
    options = [
        st.just(""),
        st.text(max_size=30),
        st.integers(-(10**9), 10**9).map(str),
        st.decimals(allow_nan=True, allow_infinity=True, places=3).map(str),
        st.dates().map(str),
        st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M")),
        st.sampled_from(["True", "False", "y", "None", "0"]),
    ]
    choices = getattr(form_class, name).kwargs.get("choices")
    if choices:
        options.append(st.sampled_from([str(getattr(choice, "value", choice)) for choice in choices]))
    return st.one_of(options)


@pytest.fixture
def form_url(enter):
    """The form URL of an instrument, prepared once per test."""
    urls: dict[str, str] = {}

    def get(code: str) -> str:
        if code not in urls:
            urls[code] = enter(code)
        return urls[code]

    return get


@pytest.mark.parametrize("code", sorted(CATALOGUE))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_input_to_any_form_never_gives_a_server_error(code, form_url, client, data):
    url = form_url(code)
    form_class = registry()[code].form
    # Half the time start from the valid example and change a few fields, so that saving is reached too.
    from_example = data.draw(st.booleans(), label="from example")
    values: dict[str, object] = dict(EXAMPLES[code]) if from_example else {}
    names = form_class.data_field_names()
    changed = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True), label="changed") if from_example else names
    for name in changed:
        values[name] = data.draw(_values_for(form_class, name), label=name)
        if data.draw(st.booleans(), label=f"{name} missing"):
            values[name + "__missing"] = data.draw(st.sampled_from(["not_done", "unknown", "not_applicable", "bogus", ""]))
            values[name + "__reason"] = data.draw(st.text(max_size=250))
    values["action"] = data.draw(st.sampled_from(["complete", "draft", "other"]))
    values["confirm"] = data.draw(st.lists(st.text(max_size=20), max_size=2))
    values["version"] = data.draw(st.sampled_from(["", "1", "x", "999"]))
    values["csrf_token"] = csrf_token(client, url)
    response = client.post(url, data=values)
    if any(CONTROL_CHARACTER.search(text) for value in values.values() for text in (value if isinstance(value, list) else [value])):
        assert response.status_code == 400 and "contains a control character" in response.get_data(as_text=True)
        return  # refused before the form is read (ecrf.guards): nothing saved
    assert response.status_code in (200, 302), response.status_code
