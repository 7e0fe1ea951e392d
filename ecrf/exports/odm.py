"""CDISC ODM 1.3.2 export: AdminData, the study's MetaDataVersion and its ClinicalData with audit records.

Placeholder until the writer is built.
"""

from __future__ import annotations

from pathlib import Path

from ecrf.exports.scope import ExportRefused, Progress, Scope


def write_odm(scope: Scope, path: Path, *, snapshot: bool, progress: Progress) -> int:
    """Write the scope's metadata and clinical data as one ODM 1.3.2 XML file at `path`; returns the data rows."""
    raise ExportRefused("the ODM export is not built yet")
