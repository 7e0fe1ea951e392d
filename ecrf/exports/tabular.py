"""The tabular exports: one zip of datasets (CSV, Stata .dta, SPSS .sav or SAS transport .xpt) and dictionary.csv.

Placeholder: writes `subjects` only until the datasets of every instrument are built.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from sqlalchemy import select

from ecrf.exports.scope import Progress, Scope
from ecrf.extensions import db
from ecrf.subjects.models import Subject


def write_tabular(scope: Scope, fmt: str, path: Path, *, progress: Progress) -> int:
    """Write the scope's datasets in `fmt` into one zip at `path`; returns the number of data rows."""
    subjects = db.session.scalars(
        select(Subject).where(Subject.study_id == scope.study.id, Subject.site_id.in_(scope.site_ids)).order_by(Subject.subject_code)
    ).all()
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["subject", "site"])
    for done, subject in enumerate(subjects, 1):
        writer.writerow([subject.subject_code, subject.site.code])
        progress(done, len(subjects))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subjects.csv", text.getvalue())
        archive.writestr(
            "dictionary.csv",
            "dataset,variable,label,type,unit,allowed,codes,derived,instrument,visits\nsubjects,subject,Subject ID,text,,,,,,\nsubjects,site,Site,text,,,,,,\n",
        )
    return len(subjects)
