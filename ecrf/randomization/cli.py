"""`flask ecrf randomization ...`: generate, import and export the concealed lists."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from ecrf.access import Action, can
from ecrf.audit.trail import record_event
from ecrf.auth.models import User
from ecrf.extensions import db
from ecrf.protocols import protocols
from ecrf.randomization.services import RandomizationError, export_csv, generate_list, parse_csv, store
from ecrf.studies.models import Study, StudySite

randomization_cli = AppGroup("randomization", help="Randomization lists: generate, import, export.")


def _study(code: str) -> Study:
    study = db.session.scalar(select(Study).where(Study.code == code))
    if study is None:
        raise click.ClickException(f"unknown study '{code}'; load the protocols first (flask ecrf load-protocols)")
    return study


@randomization_cli.command("generate")
@click.argument("study_code", metavar="STUDY")
@click.option("--seed", type=int, required=True, help="The same seed always gives the same list.")
@click.option("--per-stratum", "per_stratum", type=int, required=True, help="At least this many slots per stratum (whole blocks).")
def generate(study_code: str, seed: int, per_stratum: int) -> None:
    """Generate the concealed list for every site (and stratum) of a study."""
    study = _study(study_code)
    try:
        count = generate_list(study, protocols()[study.code], seed, per_stratum)
    except RandomizationError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"{study.code}: {count} slots generated (seed {seed}).")


@randomization_cli.command("import")
@click.argument("study_code", metavar="STUDY")
@click.argument("path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_list(study_code: str, path: Path) -> None:
    """Load a statistician's list (CSV: stratum,sequence,block,arm) instead of generating one."""
    study = _study(study_code)
    try:
        count = store(study, parse_csv(study, protocols()[study.code], path.read_text(encoding="utf-8-sig")), f"imported from {path.name}")
    except RandomizationError as error:
        raise click.ClickException(f"{path.name}: {error}") from None
    db.session.commit()
    click.echo(f"{study.code}: {count} slots imported from {path.name}.")


@randomization_cli.command("export")
@click.argument("study_code", metavar="STUDY")
@click.option("--as", "email", required=True, help="The data manager exporting the list (unblinded).")
def export(study_code: str, email: str) -> None:
    """Print the whole list as CSV (stratum,sequence,block,arm), for the unblinded data manager only."""
    study = _study(study_code)
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower(), User.active.is_(True)))
    sites = db.session.scalars(select(StudySite.site_id).where(StudySite.study_id == study.id)).all()
    if user is None or not any(can(user, Action.MANAGE_RANDOMIZATION, study.id, site_id) for site_id in sites):
        raise click.ClickException(f"only an unblinded data manager of {study.code} may export its randomization list")
    text = export_csv(study)
    record_event(db.session(), "export", object_type="randomization_slots", object_id=study.code, new=f"{text.count(chr(10)) - 1} slots", user=user)
    db.session.commit()
    click.echo(text, nl=False)
