"""Each instrument is declared once: its form, its table and its description (`instrument(code).items`) agree;
`ecrf/` does not import `forms/` (except views); every instrument saves through the service with plain data."""

from __future__ import annotations

import ast
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import has_request_context
from sqlalchemy import inspect

import forms.registry  # noqa: F401 (attaches the forms)
from ecrf.auth.models import Role
from ecrf.crfs.input import EntryInput
from ecrf.crfs.items import Kind
from ecrf.crfs.models import EntryStatus
from ecrf.crfs.registry import registry
from ecrf.crfs.services import save_entry
from ecrf.extensions import db
from ecrf.protocols import protocols
from ecrf.protocols.instruments import INSTRUMENTS as CATALOGUE
from ecrf.visits.services import record_visit_date
from tests.instruments.conftest import INDEX_DATE
from tests.test_instruments_generic import EXAMPLES, NOW, _first_use

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_form_table_and_description_of_each_instrument_agree(code):
    item = registry()[code]
    form = item.form
    described = list(item.items)
    assert [i.name for i in item.items.entered] == form.data_field_names(), "every data field is an entered item, in paper order"
    columns = {c.name: c for c in inspect(item.model).columns if c.name != "entry_id"}
    assert set(columns) == {i.name for i in described}, "every non-key column is an item and every item a column"
    for spec in described:
        column = columns[spec.name]
        assert repr(column.type) == repr(spec.column_type()) and column.nullable, spec.name
        if spec.derived:
            assert spec.name not in form.data_field_names()
            assert set(spec.derived_from or ()) <= {i.name for i in described}
            continue
        unbound = getattr(form, spec.name)
        assert form.field_label(spec.name) == spec.label
        assert form.allowed_missing[spec.name] == spec.accepted_missing
        render = unbound.kwargs.get("render_kw") or {}
        if spec.kind in (Kind.INTEGER, Kind.DECIMAL):
            assert (str(render["min"]), str(render["max"])) == (str(spec.low), str(spec.high))
        choices = unbound.kwargs.get("choices")
        if spec.codes and spec.kind is not Kind.TICK:
            assert [c.value for c in choices] == [code for code, _ in spec.codes]
            assert all(c.label.endswith(label) for c, (_, label) in zip(choices, spec.codes, strict=False))
        else:
            assert not choices
    description = item.items.describe()
    assert [d["name"] for d in description] == [i.name for i in described]


def test_ecrf_modules_other_than_views_do_not_import_forms():
    offenders = []
    for path in sorted((ROOT / "ecrf").rglob("*.py")):
        if path.name == "views.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if name == "forms" or name.startswith("forms.")]
    assert offenders == []


def typed_example(kind: Kind, raw: str, timezone: str):
    """A posted example value as the plain value an importer or the API would give."""
    if raw == "" or raw is None:
        return None
    if kind in (Kind.INTEGER, Kind.GRADED):
        return int(raw)
    if kind is Kind.DECIMAL:
        return Decimal(raw)
    if kind is Kind.YES_NO:
        return raw == "True"
    if kind is Kind.TICK:
        return True
    if kind is Kind.DATE:
        return date.fromisoformat(raw)
    if kind is Kind.DATETIME:
        return datetime.fromisoformat(raw).replace(tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))
    return raw


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_instrument_saves_as_complete_through_the_service_without_request_or_form(code, make_site, make_user, make_subject, clock):
    site = make_site("SH01", list(protocols()), "Asia/Shanghai")
    user = make_user("c@example.org", [(study, site, Role.COORDINATOR) for study in protocols()])
    study, visit_code, arm = _first_use(code)
    with clock(datetime(2026, 1, 1, 4)):
        subject = make_subject(study, site, INDEX_DATE, arm=arm or protocols()[study].arms[0].code)
    visit = next(v for v in subject.visits if v.definition.code == visit_code)
    item = registry()[code]
    values = {spec.name: typed_example(spec.kind, EXAMPLES[code].get(spec.name, ""), site.timezone) for spec in item.items.entered}
    with clock(NOW):
        if visit.visit_date is None:
            record_visit_date(visit, visit.target_date)
        assert not has_request_context()
        entry = save_entry(visit, item, EntryInput(values=values, complete=True, by=user), entry=None)
        db.session.commit()
    assert entry.status is EntryStatus.COMPLETE and entry.created_by_id == user.id
    data = db.session.get(item.model, entry.id)
    assert {name: getattr(data, name) for name in values} == values
