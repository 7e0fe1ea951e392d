"""`flask ecrf export STUDY --format FORMAT --as EMAIL --output PATH [--site CODE ...]`."""

from __future__ import annotations

from pathlib import Path

import click

from ecrf.exports.scope import FORMATS, ExportRefused, export_scope, find_user
from ecrf.exports.services import run_export
from ecrf.extensions import db


@click.command("export")
@click.argument("study_code", metavar="STUDY")
@click.option("--format", "fmt", required=True, help=f"One of {', '.join(FORMATS)}.")
@click.option("--as", "email", required=True, help="The user exporting: the export holds what they may see.")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The file to write (.zip, or .xml for odm).")
@click.option("--site", "sites", multiple=True, help="Only these sites (repeat the option); default: every site the user may export.")
@click.option("--snapshot", is_flag=True, help="ODM: the current values only, without their audit history.")
def export_command(study_code: str, fmt: str, email: str, output: Path, sites: tuple[str, ...], snapshot: bool) -> None:
    """Export a study's data as CSV, Stata, SPSS, SAS (one zip with a data dictionary) or CDISC ODM 1.3.2."""
    try:
        if fmt not in FORMATS:
            raise ExportRefused(f"unknown format '{fmt}'; one of {', '.join(FORMATS)}")
        scope = export_scope(find_user(email), study_code, list(sites) or None)
        result = run_export(scope, fmt, output, snapshot=snapshot)
    except ExportRefused as refused:
        db.session.rollback()
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"{result.path}: {result.rows} rows, sha256 {result.sha256}")
