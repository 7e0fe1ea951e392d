"""`flask ecrf protocols`, `schedule` and `load-protocols`."""

from __future__ import annotations

import json

from sqlalchemy import select

from ecrf.extensions import db
from ecrf.studies.models import Study, VisitDefinition


def test_protocols_lists_the_five_studies(cli):
    result = cli.invoke(args=["ecrf", "protocols"])
    assert result.exit_code == 0
    codes = [line.split()[0] for line in result.output.splitlines()]
    assert codes == ["angel-icas", "defiance", "defier", "leg-deb", "precise-cal"]
    assert "NCT07277218" in result.output and "visits: baseline, m1, m3, m6, m12, m24" in result.output


def test_schedule_json_gives_each_visit_window_in_order(cli):
    result = cli.invoke(args=["ecrf", "schedule", "defiance", "--index-date", "2027-03-14", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [list(row) for row in rows] == [["code", "label", "target_date", "window_start", "window_end"]] * 4
    assert [(r["code"], r["target_date"], r["window_start"], r["window_end"]) for r in rows] == [
        ("baseline", "2027-03-14", "2027-03-14", "2027-03-14"),
        ("d30", "2027-04-13", "2027-04-06", "2027-04-20"),
        ("d90", "2027-06-12", "2027-05-29", "2027-06-26"),
        ("m6", "2027-09-10", "2027-08-11", "2027-10-10"),
    ]


def test_schedule_table_names_every_visit(cli):
    result = cli.invoke(args=["ecrf", "schedule", "leg-deb", "--index-date", "2028-02-29"])
    assert result.exit_code == 0
    assert result.output.splitlines()[1].split()[:5] == ["m6", "2028-08-27", "window", "2028-07-28", "to"]


def test_schedule_of_an_unknown_study_fails_with_one_line(cli):
    result = cli.invoke(args=["ecrf", "schedule", "nosuch", "--index-date", "2027-01-01"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: unknown study 'nosuch'; known: angel-icas, defiance, defier, leg-deb, precise-cal"]


def test_schedule_with_a_bad_date_fails_with_one_line(cli):
    result = cli.invoke(args=["ecrf", "schedule", "defier", "--index-date", "2027-02-30"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: --index-date: '2027-02-30' is not a date; use YYYY-MM-DD"]


def test_load_protocols_brings_windows_into_the_database_and_is_idempotent(cli):
    definition = db.session.scalar(select(VisitDefinition).join(Study).where(Study.code == "defier", VisitDefinition.code == "m24"))
    definition.days_after = 1
    db.session.commit()
    db.session.execute(db.update(Study).where(Study.code == "defier").values(protocol_sha256="stale"))
    db.session.commit()
    result = cli.invoke(args=["ecrf", "load-protocols"])
    assert result.exit_code == 0
    assert "defier: loaded" in result.output and "defiance: unchanged" in result.output
    db.session.expire_all()
    assert db.session.get(VisitDefinition, definition.id).days_after == 60
    again = cli.invoke(args=["ecrf", "load-protocols"])
    assert "loaded" not in again.output
