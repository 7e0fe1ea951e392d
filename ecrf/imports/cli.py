"""`flask ecrf import-odm STUDY FILE --as EMAIL [--dry-run] [--mapping FILE.yaml]`."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from ecrf.auth.services import user_by_email
from ecrf.extensions import db
from ecrf.imports.mapping import MappingError
from ecrf.imports.reading import SchemaMissing, load_schema
from ecrf.imports.services import ImportRefused, import_odm


@click.command("import-odm")
@click.argument("study_code", metavar="STUDY")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "email", required=True, help="The user importing: a data manager of the sites the file's subjects are at.")
@click.option(
    "--mapping", "mapping_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="YAML mapping of another system's OIDs and codes."
)
@click.option("--dry-run", is_flag=True, help="Check everything and say what would be imported; write nothing.")
def import_odm_command(study_code: str, path: Path, email: str, mapping_path: Path | None, dry_run: bool) -> None:
    """Import a CDISC ODM 1.3.2 file's ClinicalData (subjects, visits, forms and their audit history) into a study:
    all of it, or, when anything is refused, nothing (every refusal is listed; the exit status is 1). Any other
    failure rolls back too, is said in one line (exit status 1) and logged with its trace."""
    try:
        user = user_by_email(email)
        if user is None or not user.active:
            raise ImportRefused(f"no active user '{email}'")
        schema = load_schema(Path(current_app.config["ECRF_ODM_SCHEMA_DIR"]))
        report = import_odm(path, study_code, user, schema=schema, mapping_path=mapping_path, dry_run=dry_run)
        if report.ok and not dry_run:
            db.session.commit()
        else:
            db.session.rollback()
    except (ImportRefused, MappingError, SchemaMissing) as refused:
        db.session.rollback()
        raise click.ClickException(str(refused)) from None
    except Exception as error:  # any other failure (a fault of ours): rolled back, said in one line, its trace logged
        db.session.rollback()
        current_app.logger.exception("ODM import of %s into %s failed", path.name, study_code)
        said = next(iter(str(error).splitlines()), "")
        raise click.ClickException(f"{path.name}: the import failed ({type(error).__name__}: {said}); nothing was imported (details in the log)") from None
    for line in report.lines():
        click.echo(line, err=not report.ok)
    if not report.ok:
        raise SystemExit(1)
