"""Templates show, they don't decide (issue 11, points 6 and 7): what a page offers comes from `ecrf.pages` (access
from `ecrf.access`, state from model properties), colours from the status enums, the CSRF field from one macro,
widgets from `input_kind`; enums are `StrEnum`s stored through the base's type annotation map; the site's subject
list is paged by `db.paginate`."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import String
from wtforms import Form, RadioField, SelectChoice, StringField
from wtforms.meta import DefaultMeta

import forms.fields as fields
from ecrf.access import Action, can, instrument_codes, may_take_query_step
from ecrf.auth.models import Role
from ecrf.crfs.models import CrfEntry, EntryStatus, Signature
from ecrf.crfs.registry import registry
from ecrf.crfs.services import FormStatus, visit_forms
from ecrf.extensions import db
from ecrf.pages import entry_offers, flag_offers, query_offers, screening_offers, subject_offers, visit_offers
from ecrf.queries.models import QueryStatus
from ecrf.queries.services import answer_query, raise_query
from ecrf.safety.models import Flag, FlagStatus
from ecrf.visits.windows import WindowStatus
from ecrf.web import input_kind
from tests.conftest import PASSWORD, post_form

NOW = datetime(2027, 6, 1, 4, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "ecrf" / "templates").rglob("*.html"))
SOURCES = sorted([*(ROOT / "ecrf").rglob("*.py"), *(ROOT / "forms").rglob("*.py")])
BOOTSTRAP_COLOURS = {"primary", "secondary", "success", "danger", "warning", "info", "light", "dark"}


def _template_lines():
    for path in TEMPLATES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            yield f"{path.relative_to(ROOT)}:{number}", line


# -- one macro for the CSRF field -------------------------------------------------------------------------------


def test_no_template_writes_the_csrf_field_but_the_csrf_field_macro():
    macro = (ROOT / "ecrf" / "templates" / "_macros.html").read_text()
    assert macro.count('name="csrf_token"') == 1 and "{% macro csrf_field() -%}" in macro
    found = [
        where
        for where, line in _template_lines()
        if ("csrf_token" in line and not where.startswith("ecrf/templates/_macros.html") and "f.name != 'csrf_token'" not in line)
    ]  # (the screening form skips the form's own token field)
    assert found == [], f"write {{{{ csrf_field() }}}} instead: {found}"


def test_every_form_of_every_template_carries_the_csrf_field():
    for path in TEMPLATES:
        text = path.read_text()
        for form in re.findall(r'<form\b[^>]*method="post"[^>]*>.*?</form>', text, re.S):
            assert "csrf_field()" in form, f"{path.relative_to(ROOT)}: a posted form without {{{{ csrf_field() }}}}: {form[:120]}"


# -- widgets chosen in Python -----------------------------------------------------------------------------------


def test_no_template_tests_a_field_class_name():
    found = [where for where, line in _template_lines() if re.search(r"\.type\b|'\w+Field'|\"\w+Field\"", line)]
    assert found == [], f"choose the widget with input_kind(f): {found}"


def test_every_field_of_every_instrument_form_has_a_known_input_kind():
    kinds = {"radio", "checkbox", "date", "time", "datetime", "number", "textarea", "text"}
    seen = set()
    for item in registry().values():
        for name in dir(item.form):
            unbound = getattr(item.form, name)
            if not hasattr(unbound, "_formfield"):
                continue
            kind = input_kind(unbound.bind(form=None, name=name, _meta=DefaultMeta()))
            assert kind in kinds, (item.code, name, kind)
            seen.add(kind)
    assert {"radio", "number", "date"} <= seen


def test_input_kind_follows_the_field_class_and_knows_stock_radio_buttons():
    class Sample(Form):
        radio = RadioField(choices=[SelectChoice("a", "A")])
        stock_text = StringField()
        named_radio = fields.NamedRadioField(choices=[SelectChoice("a", "A")])
        when = fields.NamedDateTimeField()
        count = fields.NamedIntegerField()
        amount = fields.NamedDecimalField()
        tick = fields.NamedBooleanField()
        day = fields.NamedDateField()
        at = fields.NamedTimeField()
        note = fields.NamedTextAreaField()
        name = fields.NamedStringField()

    form = Sample()
    assert {f.name: input_kind(f) for f in form} == {
        "radio": "radio",
        "stock_text": "text",
        "named_radio": "radio",
        "when": "datetime",
        "count": "number",
        "amount": "number",
        "tick": "checkbox",
        "day": "date",
        "at": "time",
        "note": "textarea",
        "name": "text",
    }


# -- colours from the enums --------------------------------------------------------------------------------------


def _status_enums() -> list[type[enum.Enum]]:
    import ecrf.crfs.services
    import ecrf.models
    import ecrf.visits.windows  # noqa: F401

    found, stack = [], [enum.StrEnum]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("ecrf.") and sub.__name__.endswith("Status") and len(sub):
                found.append(sub)
    return found


@pytest.mark.parametrize("status_enum", [WindowStatus, FormStatus, EntryStatus, QueryStatus, FlagStatus], ids=lambda e: e.__name__)
def test_every_status_a_page_shows_as_a_badge_has_its_colour(status_enum):
    assert {member: member.css for member in status_enum if member.css not in BOOTSTRAP_COLOURS} == {}


def test_the_status_enums_with_colours_are_all_those_the_pages_colour():
    coloured = {e.__name__ for e in _status_enums() if hasattr(e, "css")}
    assert coloured >= {"WindowStatus", "FormStatus", "EntryStatus", "QueryStatus", "FlagStatus"}


def test_no_template_picks_a_colour_or_an_offer_by_a_status_value():
    found = [
        where
        for where, line in _template_lines()
        if (re.search(r"['\"]({})['\"]\s*(if\b|:)".format("|".join(BOOTSTRAP_COLOURS)), line) and "category" not in line)  # (flash messages)
        or re.search(r"\b(may|may_step)\(|\bmay_(enter|verify|lock|sign|record|query|history|decide)\b", line)
        or re.search(r"\.(status|outcome)\.value\s*(==|!=)", line)
    ]
    assert found == [], found


def test_no_template_decides_by_a_method_an_emptiness_or_who_is_logged_in():
    """The enrol label, "None to report" and the one-time password button come from Python, not from template tests."""
    found = [where for where, line in _template_lines() if re.search(r"\.method\.value|\bnot \w+\.entries\b|current_user\.id", line)]
    assert found == [], found


# -- StrEnum and the type annotation map --------------------------------------------------------------------------


def test_enums_are_str_enums_and_enum_columns_carry_no_boilerplate():
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in SOURCES
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\(str, *Enum\)|SAEnum\(\w+, ", line)
    ]
    assert found == [], found


@pytest.mark.parametrize(
    "table, column, length",
    [
        ("memberships", "role", 20),
        ("subjects", "status", 20),
        ("screening_records", "outcome", 20),
        ("crf_entries", "status", 20),
        ("outbox_emails", "status", 10),
        ("data_queries", "status", 10),
        ("flags", "status", 10),
    ],
)
def test_an_enum_column_stores_the_values_in_a_varchar_of_its_width(table, column, length):
    column_type = db.metadata.tables[table].columns[column].type
    assert isinstance(column_type, String) and column_type.length == length
    assert column_type.native_enum is False and column_type.create_constraint is False
    assert column_type.enums == [member.value for member in column_type.enum_class]


# -- page objects ---------------------------------------------------------------------------------------------------

ROLES = list(Role)


@pytest.fixture
def trial(make_site, make_user, make_subject):
    """A DEFIER subject with a complete entry at 3 months, a verified and signed one at 6 months (not yet due: the
    forms may be drafted early; here set by hand), a locked one at 12 months; an open and an answered query raised
    by another monitor; an open safety signal; one user per role."""
    site = make_site("SH01", ["defier"])
    users = {role: make_user(f"{role.value}@example.org", [("defier", site, role)]) for role in ROLES}
    raiser = make_user("raiser@example.org", [("defier", site, Role.MONITOR)])
    subject = make_subject("defier", site, date(2027, 1, 1), arm="des")
    m3, m6, m12 = subject.visits[2], subject.visits[3], subject.visits[4]

    def entry(visit, status, verified=False, signed=False):
        row = CrfEntry(subject_id=subject.id, visit_id=visit.id, instrument="abi", status=status, verified_at=NOW if verified else None)
        db.session.add(row)
        db.session.flush()
        if signed:
            db.session.add(Signature(entry_id=row.id, user_id=users[Role.INVESTIGATOR].id, printed_name="Dr I", meaning="approved", data_sha256="0" * 64))
        return row

    complete = entry(m3, EntryStatus.COMPLETE)
    ready = entry(m6, EntryStatus.COMPLETE, verified=True, signed=True)
    locked = entry(m12, EntryStatus.LOCKED, verified=True, signed=True)
    open_query = raise_query(complete, "pt_right", "Source says 125?", raiser)
    answered = raise_query(complete, "pt_left", "Source says 90?", raiser)
    answer_query(answered, "Corrected.", users[Role.COORDINATOR])
    signal = Flag(
        key="abi_drop:1",
        kind="abi_drop",
        safety=True,
        study_id=subject.study_id,
        site_id=subject.site_id,
        subject_id=subject.id,
        entry_id=complete.id,
        message="ABI fell",
    )
    db.session.add(signal)
    db.session.commit()
    return {
        "users": users,
        "subject": subject,
        "visits": (m3, m6, m12),
        "entries": (complete, ready, locked),
        "queries": (open_query, answered),
        "signal": signal,
        "raiser": raiser,
    }


def _offered(offers) -> set[str]:
    return {name for name, on in asdict(offers).items() if on}


STAFF, INV, BA, MON, DM, ADMIN = (Role.COORDINATOR, Role.INVESTIGATOR, Role.BLINDED_ASSESSOR, Role.MONITOR, Role.DATA_MANAGER, Role.ADMIN)

#: What each role is offered on the pages of the `trial` fixture (a blinded assessor at DEFIER sees no DEFIER form:
#: its forms reveal nothing of the arm, but the protocol gives the assessor none, so no form page offers it anything
#: beyond the data entry access grants it).
EXPECTED = {
    "complete entry": {
        STAFF: {"enter", "history"},
        INV: {"enter", "history"},
        BA: {"enter"},
        MON: {"verify", "raise_query", "history"},
        DM: {"raise_query", "history"},
        ADMIN: {"history"},
    },
    "verified and signed entry": {
        STAFF: {"enter", "history"},
        INV: {"enter", "history"},
        BA: {"enter"},
        MON: {"raise_query", "history"},
        DM: {"lock", "raise_query", "history"},
        ADMIN: {"history"},
    },
    "locked entry": {
        STAFF: {"history"},
        INV: {"history"},
        BA: set(),
        MON: {"raise_query", "history"},
        DM: {"unlock", "raise_query", "history"},
        ADMIN: {"history"},
    },
    "open query": {STAFF: {"answer"}, INV: {"answer"}, BA: set(), MON: set(), DM: {"close"}, ADMIN: set()},
    "answered query": {STAFF: set(), INV: set(), BA: set(), MON: set(), DM: {"close", "reopen"}, ADMIN: set()},
    "safety signal": {STAFF: set(), INV: {"decide"}, BA: set(), MON: set(), DM: set(), ADMIN: set()},
    "subject": {STAFF: {"end_participation"}, INV: {"end_participation"}, BA: set(), MON: set(), DM: set(), ADMIN: set()},
    "3-month visit": {
        STAFF: {"record", "mark_missed", "enter"},
        INV: {"record", "mark_missed", "enter", "sign"},
        BA: {"enter"},
        MON: set(),
        DM: set(),
        ADMIN: set(),
    },
    "6-month visit": {
        STAFF: {"record", "mark_missed", "enter"},
        INV: {"record", "mark_missed", "enter"},
        BA: {"enter"},
        MON: set(),
        DM: {"lock"},
        ADMIN: set(),
    },
}


def _all_offers(trial, role) -> dict[str, set[str]]:
    user, subject = trial["users"][role], trial["subject"]
    complete, ready, locked = trial["entries"]
    open_query, answered = trial["queries"]
    m3, m6, _ = trial["visits"]
    today = date(2027, 6, 1)

    def visit(v):
        return _offered(visit_offers(user, subject, v, visit_forms(v, instrument_codes(user, subject, v)), today))

    return {
        "complete entry": _offered(entry_offers(user, subject, complete)),
        "verified and signed entry": _offered(entry_offers(user, subject, ready)),
        "locked entry": _offered(entry_offers(user, subject, locked)),
        "open query": _offered(query_offers(user, open_query)),
        "answered query": _offered(query_offers(user, answered)),
        "safety signal": _offered(flag_offers(user, trial["signal"])),
        "subject": _offered(subject_offers(user, subject)),
        "3-month visit": visit(m3),
        "6-month visit": visit(m6),
    }


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_each_role_is_offered_what_its_role_and_the_objects_state_allow(trial, role):
    assert _all_offers(trial, role) == {page: expected[role] for page, expected in EXPECTED.items()}


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_page_offers_never_exceed_what_ecrf_access_allows(trial, role):
    user, subject = trial["users"][role], trial["subject"]
    at = (subject.study_id, subject.site_id)
    action_of = {
        "enter": Action.ENTER_DATA,
        "verify": Action.VERIFY,
        "lock": Action.LOCK,
        "unlock": Action.LOCK,
        "raise_query": Action.RAISE_QUERY,
        "history": Action.VIEW_AUDIT,
        "decide": Action.DECIDE_FLAG,
        "end_participation": Action.END_PARTICIPATION,
        "sign": Action.SIGN,
        "record": Action.RECORD_VISIT,
        "mark_missed": Action.RECORD_VISIT,
    }
    for page, offered in _all_offers(trial, role).items():
        for offer in offered:
            if page.endswith("query"):
                query = trial["queries"][0 if page == "open query" else 1]
                assert may_take_query_step(user, query, offer), (page, offer)
            else:
                assert can(user, action_of[offer], *at), (page, offer)


def test_a_query_raised_by_a_monitor_is_closed_or_reopened_by_that_monitor(trial):
    open_query, answered = trial["queries"]
    assert _offered(query_offers(trial["raiser"], open_query)) == {"close"}
    assert _offered(query_offers(trial["raiser"], answered)) == {"close", "reopen"}


def test_the_screening_page_offers_follow_the_records_state(make_site, make_screening):
    site = make_site("SH01", ["defier"])
    record = make_screening("defier", site)
    assert _offered(screening_offers(None)) == {"save"}
    assert _offered(screening_offers(record)) == {"enrol", "save"}


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.value)
def test_the_entry_page_shows_exactly_the_buttons_offered(trial, role, client):
    post_form(client, "/login", {"email": trial["users"][role].email, "password": PASSWORD})
    subject = trial["subject"]
    buttons = {
        "verify": ">Source-verified</button>",
        "lock": ">Lock</button>",
        "unlock": ">Unlock</button>",
        "raise_query": 'id="raise-query"',
        "enter": 'value="complete">Save as complete</button>',
    }
    for visit, entry in zip(trial["visits"], trial["entries"], strict=False):
        response = client.get(f"/subjects/{subject.subject_code}/visits/{visit.definition.code}/forms/abi")
        if response.status_code == 404:  # the blinded assessor: DEFIER gives the assessor no form
            assert role is Role.BLINDED_ASSESSOR
            continue
        page = response.get_data(as_text=True)
        offered = _offered(entry_offers(trial["users"][role], subject, entry))
        assert {name for name, marker in buttons.items() if marker in page} == offered & set(buttons), (visit.definition.code, role)
        assert f'text-bg-{entry.status.css}" id="entry-status"' in page


# -- db.paginate -------------------------------------------------------------------------------------------------


def test_the_site_list_is_paged_and_a_page_past_the_end_shows_the_last(make_site, make_user, make_subject, client, monkeypatch):
    site = make_site("SH01", ["defier"])
    user = make_user("c@example.org", [("defier", site, Role.COORDINATOR)])
    codes = [make_subject("defier", site, date(2027, 1, day), arm="des").subject_code for day in range(1, 6)]
    monkeypatch.setitem(current_app.config, "ECRF_PAGE_SIZE", 2)
    post_form(client, "/login", {"email": user.email, "password": PASSWORD})
    pages = {page: client.get(f"/studies/defier/sites/SH01?page={page}").get_data(as_text=True) for page in (1, 2, 3, 99)}
    assert "Page 2 of 3" in pages[2] and "5 subjects." in pages[2]
    assert [code for code in codes if f">{code}</a>" in pages[2]] == sorted(codes)[2:4]
    assert "Page 3 of 3" in pages[99] and [code for code in codes if f">{code}</a>" in pages[99]] == sorted(codes)[4:]
    assert 'href="/studies/defier/sites/SH01?page=2">Previous' in pages[3]


def test_every_table_of_a_page_scrolls_inside_its_box_on_a_phone():
    """A wide table (a flag's message, a subject list) scrolls within `.table-responsive`; the page never gets wider
    than the phone (emails are not pages)."""
    found = []
    for path in TEMPLATES:
        if "email" in path.parts:
            continue
        text = path.read_text()
        for match in re.finditer(r"<table\b", text):
            if not text[: match.start()].rstrip().endswith('<div class="table-responsive">'):
                found.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}")
    assert found == [], found
