"""One entry point for every format: write the file, hash it, record it in the audit trail."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ecrf.audit.trail import record_event
from ecrf.exports import odm, tabular
from ecrf.exports.scope import FORMATS, ExportRefused, Progress, Scope
from ecrf.extensions import db


@dataclass(frozen=True)
class ExportResult:
    """A finished export file: where, how many data rows it holds, and its SHA-256."""

    path: Path
    rows: int
    sha256: str


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_export(scope: Scope, fmt: str, path: Path, *, snapshot: bool = False, progress: Progress | None = None) -> ExportResult:
    """Write the scope's data in `fmt` to `path` (a zip for the tabular formats, XML for ODM; `snapshot`: ODM
    without the audit history), and record the export in the audit trail (who, format, scope, rows, hash).
    The caller commits."""
    if fmt not in FORMATS:
        raise ExportRefused(f"unknown format '{fmt}'; one of {', '.join(FORMATS)}")
    report = progress or (lambda done, total: None)
    rows = odm.write_odm(scope, path, snapshot=snapshot, progress=report) if fmt == "odm" else tabular.write_tabular(scope, fmt, path, progress=report)
    return recorded(scope, path, rows, f"{fmt}{' snapshot' if snapshot and fmt == 'odm' else ''}; {scope.describe()}")


def recorded(scope: Scope, path: Path, rows: int, what: str) -> ExportResult:
    """A written export file, hashed, with its audit event ("export": `what`, rows, hash) by the scope's user."""
    result = ExportResult(path, rows, sha256_of(path))
    record_event(db.session(), "export", object_type="study", object_id=scope.study.code, new=f"{what}; {rows} rows; sha256 {result.sha256}", user=scope.user)
    return result
