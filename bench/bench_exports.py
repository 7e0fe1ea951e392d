"""Peak memory and time of the tabular exports with N generated subjects, against a raw dump of the same rows.

    .venv/bin/python bench/bench_exports.py [N] [DATABASE_URL]

Default: 10,000 subjects in a temporary SQLite file. The subjects are all in DEFIER (the export's study), spread
over its two demo sites, index dates over the past two years; about 90 % of closed windows are dated, and each
dated visit has an entry of every (non-repeating) form the protocol gives it, with random values of each item's
kind, a third each draft, complete and locked. Then each export runs in a fresh process (so that its peak RSS
is its own): the raw dump (every row of the tables the export reads, `SELECT *` streamed to CSV in a zip, no
logic) and the CSV, Stata, SPSS and SAS exports of the demo data manager. Figures go in bench/README.md.
"""

from __future__ import annotations

import csv
import io
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from sqlalchemy import insert, select, text

from ecrf import create_app
from ecrf.auth.models import User
from ecrf.clock import now_utc, site_today
from ecrf.crfs.items import Item, Kind
from ecrf.crfs.models import CrfEntry, EntryStatus
from ecrf.crfs.registry import instrument
from ecrf.demo import load_demo
from ecrf.exports.scope import export_scope
from ecrf.exports.tabular import write_tabular
from ecrf.extensions import db
from ecrf.protocols import protocol_files, protocol_for
from ecrf.studies.models import Site, Study
from ecrf.studies.services import sync_protocols
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.visits.models import Visit
from ecrf.visits.windows import compute_window

STUDY = "defier"
SITES = ("SH01", "HZ01")
USER = "datamanager@example.org"
WHAT = ("raw", "csv", "stata", "spss", "sas")
BATCH = 5000


def value_of(item: Item, rng: random.Random, day: date) -> object:
    """A random value of the item's kind (derived items are left empty: no computation here)."""
    kind = item.kind
    if item.derived or rng.random() < 0.05:
        return None
    if kind is Kind.INTEGER:
        return rng.randint(int(item.low or 0), int(item.high or 100))
    if kind is Kind.DECIMAL:
        low, high = Decimal(str(item.low or 0)), Decimal(str(item.high or 100))
        step = Decimal(1).scaleb(-(item.places or 0))
        return (low + (high - low) * Decimal(rng.random())).quantize(step)
    if kind in (Kind.CHOICE, Kind.GRADED):
        return rng.choice(item.codes)[0]
    if kind in (Kind.YES_NO, Kind.TICK):
        return rng.random() < 0.5
    if kind is Kind.DATE:
        return day
    if kind is Kind.DATETIME:
        return datetime(day.year, day.month, day.day, 9, 30, tzinfo=UTC)
    if kind is Kind.PARTIAL_DATE:
        return f"{day.year - 1}-{day.month:02d}"
    return "synthetic text"[: item.max_length or 200]


def generate(n: int, rng: random.Random) -> int:
    """Bulk-insert n DEFIER subjects with their visits and entries; returns the number of entries."""
    study = db.session.scalar(select(Study).where(Study.code == STUDY))
    protocol = protocol_for(STUDY)
    sites = [db.session.scalar(select(Site).where(Site.code == code)) for code in SITES]
    definitions = {d.code: d for d in study.visit_definitions}
    next_subject = (db.session.scalar(select(db.func.max(Subject.id))) or 0) + 1
    next_visit = (db.session.scalar(select(db.func.max(Visit.id))) or 0) + 1
    next_entry = (db.session.scalar(select(db.func.max(CrfEntry.id))) or 0) + 1
    entries_total = 0
    for start in range(0, n, BATCH):
        subjects, visits, entries, data = [], [], [], {}
        for i in range(start, min(start + BATCH, n)):
            site = sites[i % len(sites)]
            today = site_today(site)
            index = today - timedelta(days=rng.randint(0, 730))
            arm = rng.choice(study.arms)
            subjects.append(
                {
                    "id": next_subject,
                    "subject_code": f"{study.subject_prefix}-{site.code}-E{i:06d}",
                    "study_id": study.id,
                    "site_id": site.id,
                    "arm_id": arm.id,
                    "index_date": index,
                    "consent_date": index,
                    "status": SubjectStatus.ACTIVE,
                    "enrolled_at": now_utc(),
                }
            )
            for visit in protocol.visits:
                definition = definitions[visit.code]
                window = compute_window(index, definition)
                done = (window.end < today and rng.random() < 0.9) or definition.target_day == 0
                visits.append(
                    {
                        "id": next_visit,
                        "subject_id": next_subject,
                        "definition_id": definition.id,
                        "target_date": window.target,
                        "window_start": window.start,
                        "window_end": window.end,
                        "visit_date": window.start if done else None,
                        "missed": False,
                    }
                )
                if done:
                    for code in visit.instruments_for(arm.code):
                        described = instrument(code)
                        if described.repeating:
                            continue
                        status = rng.choice([EntryStatus.DRAFT, EntryStatus.COMPLETE, EntryStatus.LOCKED])
                        entries.append(
                            {
                                "id": next_entry,
                                "subject_id": next_subject,
                                "visit_id": next_visit,
                                "instrument": code,
                                "sequence": 1,
                                "status": status,
                                "missing": {},
                                "confirmed_warnings": [],
                                "version": 1,
                                "created_at": now_utc(),
                                "updated_at": now_utc(),
                            }
                        )
                        row: dict[str, object] = {"entry_id": next_entry}
                        row.update({item.name: value_of(item, rng, window.start) for item in described.items})
                        data.setdefault(code, []).append(row)
                        next_entry += 1
                next_visit += 1
            next_subject += 1
        db.session.execute(insert(Subject), subjects)
        db.session.execute(insert(Visit), visits)
        db.session.execute(insert(CrfEntry), entries)
        for code, rows in data.items():
            db.session.execute(insert(instrument(code).model), rows)
        db.session.commit()
        entries_total += len(entries)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    return entries_total


def raw_dump(path: Path) -> int:
    """Every row of the tables the export reads, as they are (`SELECT *`), streamed to CSV files in a zip."""
    tables = ["subjects", "visits", "crf_entries", "data_queries", "query_messages", "protocol_deviations"]
    codes = {code for visit in protocol_for(STUDY).visits for arm in protocol_for(STUDY).arms for code in visit.instruments_for(arm.code)}
    tables += sorted({instrument(code).model.__tablename__ for code in codes})
    rows = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, db.engine.connect() as connection:
        for table in dict.fromkeys(tables):
            result = connection.execution_options(stream_results=True, yield_per=2000).execute(text(f"SELECT * FROM {table}"))
            with archive.open(f"{table}.csv", "w", force_zip64=True) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(result.keys())
                for row in result:
                    writer.writerow(row)
                    rows += 1
    return rows


def peak_rss_mb() -> float:
    """This process's peak resident set size (VmHWM: unlike getrusage's ru_maxrss it does not carry over the
    parent's peak through fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(url: str, what: str, out: Path) -> None:
    """One export in this (fresh) process: prints seconds, peak RSS in MB before and after, rows and bytes."""
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == USER))
        scope = export_scope(user, STUDY)
        scope.protocol  # noqa: B018 (loaded before the clock starts, as in a running app)
        before = peak_rss_mb()
        start = time.perf_counter()
        rows = raw_dump(out) if what == "raw" else write_tabular(scope, what, out, progress=lambda done, total: None)
        seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    print(f"{seconds:.2f} {before:.0f} {peak:.0f} {rows} {out.stat().st_size}")


def main() -> None:
    if sys.argv[1:2] == ["--measure"]:
        measure(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    folder = Path(tempfile.mkdtemp())
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{folder}/bench.sqlite3"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        sync_protocols(protocol_files())
        load_demo()
        db.session.commit()
        start = time.perf_counter()
        entries = generate(n, random.Random(1))
        print(f"generated {n} subjects, {entries} entries in {time.perf_counter() - start:.1f} s ({url.split(':')[0]})")
    print("| what | time | peak RSS (before the export) | rows | file |")
    print("| --- | ---: | ---: | ---: | ---: |")
    raw_seconds = None
    for what in WHAT:
        output = subprocess.run(
            [sys.executable, __file__, "--measure", url, what, str(folder / f"{what}.zip")], check=True, capture_output=True, text=True
        ).stdout.split()
        seconds, before, peak, rows, size = float(output[0]), output[1], output[2], output[3], int(output[4])
        raw_seconds = raw_seconds or seconds
        ratio = "" if what == "raw" else f" ({seconds / raw_seconds:.1f}× raw)"
        print(f"| {what} | {seconds:.1f} s{ratio} | {peak} MB ({before} MB) | {rows} | {size / 1e6:.1f} MB |")


if __name__ == "__main__":
    main()
