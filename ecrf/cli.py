"""`flask ecrf ...`: the command line of the eCRF."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import cast

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from werkzeug.local import LocalProxy

from ecrf.api.cli import token_cli
from ecrf.exports.cli import export_command
from ecrf.extensions import db
from ecrf.imports.cli import import_odm_command
from ecrf.protocols import ProtocolError, ProtocolNotLoaded, file_changes, protocol_files, protocol_for, protocols, versions_in_force
from ecrf.randomization.cli import randomization_cli
from ecrf.studies.services import ProtocolChangeRefused, sync_protocols
from ecrf.visits.windows import compute_window

ecrf_cli = AppGroup("ecrf", help="eCRF commands: protocols, schedules, randomization lists, exports, API tokens, ODM import, demo data.")
ecrf_cli.add_command(randomization_cli)
ecrf_cli.add_command(export_command)
ecrf_cli.add_command(token_cli)
ecrf_cli.add_command(import_odm_command)


def _protocols():
    """The loaded protocols in force (what the app runs)."""
    try:
        return protocols()
    except ProtocolError as error:
        raise click.ClickException(str(error)) from None


def _protocol_files():
    """The protocol files on disk, validated (what loading would bring in)."""
    try:
        return protocol_files()
    except ProtocolError as error:
        raise click.ClickException(str(error)) from None


@ecrf_cli.command("protocols")
def list_protocols() -> None:
    """List the loaded studies with the version in force, and each protocol file that differs from it
    ("changed on disk, not loaded": in force only once `flask ecrf load-protocols` loads it)."""
    changes = {change.code: change for change in file_changes()}
    for code, digest in versions_in_force().items():
        try:
            protocol = protocol_for(code)
        except ProtocolNotLoaded as error:
            changes.pop(code, None)
            click.echo(f"{code:<12} {str(error).removeprefix(f'{code}: ')}")
            continue
        arms = ", ".join(arm.code for arm in protocol.arms)
        visits = ", ".join(visit.code for visit in protocol.visits)
        change = changes.pop(code, None)
        difference = f"; {change.state}" + (f" ({change.detail})" if change.detail else "") if change else ""
        click.echo(
            f"{code:<12} {protocol.short_title:<12} {protocol.registry_id or '-':<12} "
            f"{protocol.allocation.method.value:<10} arms: {arms}; visits: {visits}; version {digest[:12]}{difference}"
        )
    for change in changes.values():  # files of studies not loaded
        click.echo(f"{change.code:<12} {change.file_name}: {change.state}" + (f" ({change.detail})" if change.detail else ""))


@ecrf_cli.command("schedule")
@click.argument("study")
@click.option("--index-date", "index_date_text", required=True, metavar="YYYY-MM-DD", help="Day 0 of the schedule.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def schedule(study: str, index_date_text: str, as_json: bool) -> None:
    """Print each visit's target date and window for a subject with this index date."""
    all_protocols = _protocols()
    if study not in all_protocols:
        raise click.ClickException(f"unknown study '{study}'; known: {', '.join(all_protocols)}")
    try:
        index_date = date.fromisoformat(index_date_text)
    except ValueError:
        raise click.ClickException(f"--index-date: '{index_date_text}' is not a date; use YYYY-MM-DD") from None
    rows = []
    for visit in all_protocols[study].visits:
        window = compute_window(index_date, visit)
        rows.append(
            {
                "code": visit.code,
                "label": visit.label,
                "target_date": window.target.isoformat(),
                "window_start": window.start.isoformat(),
                "window_end": window.end.isoformat(),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['code']:<10} {row['target_date']}  window {row['window_start']} to {row['window_end']}  {row['label']}")


@ecrf_cli.command("load-protocols")
def load_protocols_command() -> None:
    """Load the protocol files: each changed one becomes its study's version in force, whole (studies, arms, visit definitions)."""
    try:
        results = sync_protocols(_protocol_files())
    except ProtocolChangeRefused as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    for study, changed in results:
        click.echo(f"{study.code}: {'loaded' if changed else 'unchanged'}")


@ecrf_cli.command("demo")
def demo_command() -> None:
    """Create synthetic demo sites, users and subjects (idempotent)."""
    from ecrf.demo import DEMO_PASSWORD, load_demo

    sync_protocols(_protocol_files())
    report = load_demo()
    db.session.commit()
    click.echo(report.summary())
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for email, role in report.logins:
        click.echo(f"  {email:<32} {role}")


@ecrf_cli.command("nightly")
@click.option("--date", "on_date_text", metavar="YYYY-MM-DD", help="Pass every site and user for this local date, whatever the hour.")
@click.option("--dry-run", is_flag=True, help="Work out everything, change and send nothing.")
def nightly_command(on_date_text: str | None, dry_run: bool) -> None:
    """Run the nightly pass by hand; print what it did as one JSON object."""
    from ecrf.notify.nightly import run_nightly

    try:
        on_date = date.fromisoformat(on_date_text) if on_date_text else None
    except ValueError:
        raise click.ClickException(f"--date: '{on_date_text}' is not a date; use YYYY-MM-DD") from None
    click.echo(json.dumps(run_nightly(on_date=on_date, dry_run=dry_run).as_dict()))


@ecrf_cli.command("scheduler")
@click.option("--run-once", is_flag=True, help="Run the scheduled job once now and exit.")
def scheduler_command(run_once: bool) -> None:
    """The scheduler process: the nightly pass every few minutes and the outbox every minute (one process; a second one runs no nightly pass)."""
    from ecrf import scheduler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = cast("LocalProxy[Flask]", current_app)._get_current_object()  # flask types the proxy as the app it stands for
    if run_once:
        report = scheduler.run_once(app)
        click.echo(json.dumps(report.as_dict() if report else {"lease": "held by another scheduler"}))
        return
    scheduler.run_forever(app)
