"""Time the worklist and the subject list with N generated subjects.

    .venv/bin/python bench/bench_lists.py [N] [DATABASE_URL]

Default: 100,000 subjects in a temporary SQLite file. Subjects are spread over
the demo sites and studies with index dates over the past two years; about 90 %
of closed windows have a visit date. Figures go in bench/README.md.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade
from sqlalchemy import insert, select, text

from ecrf import create_app
from ecrf.auth.models import User
from ecrf.clock import now_utc, site_today
from ecrf.demo import DEMO_PASSWORD, QUOTAS, load_demo
from ecrf.extensions import db
from ecrf.notify.nightly import run_nightly
from ecrf.protocols import protocol_files
from ecrf.studies.models import Site, Study
from ecrf.studies.services import sync_protocols
from ecrf.subjects.models import Subject, SubjectStatus
from ecrf.subjects.services import subject_page
from ecrf.visits.models import Visit
from ecrf.visits.windows import compute_window
from ecrf.worklist.services import build_worklist


def generate(n: int, rng: random.Random) -> None:
    """Bulk-insert n subjects with their visits, spread over the demo study-sites."""
    studies = {s.code: s for s in db.session.scalars(select(Study))}
    sites = {s.code: s for s in db.session.scalars(select(Site))}
    pairs = list(QUOTAS)
    subjects, visits = [], []
    next_id = (db.session.scalar(select(db.func.max(Subject.id))) or 0) + 1
    for i in range(n):
        study_code, site_code = pairs[i % len(pairs)]
        study, site = studies[study_code], sites[site_code]
        today = site_today(site)
        index = today - timedelta(days=rng.randint(0, 730))
        subject_id = next_id + i
        subjects.append(
            {
                "id": subject_id,
                "subject_code": f"{study.subject_prefix}-{site.code}-B{i:06d}",
                "study_id": study.id,
                "site_id": site.id,
                "arm_id": rng.choice(study.arms).id,
                "index_date": index,
                "consent_date": index,
                "status": SubjectStatus.ACTIVE,
                "enrolled_at": now_utc(),
            }
        )
        for definition in study.visit_definitions:
            window = compute_window(index, definition)
            done = (window.end < today and rng.random() < 0.9) or definition.target_day == 0
            visits.append(
                {
                    "subject_id": subject_id,
                    "definition_id": definition.id,
                    "target_date": window.target,
                    "window_start": window.start,
                    "window_end": window.end,
                    "visit_date": window.start if done else None,
                    "missed": False,
                }
            )
    db.session.execute(insert(Subject), subjects)
    db.session.execute(insert(Visit), visits)
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))  # fresh planner statistics, as autovacuum would give after a bulk load


def timed(label: str, fn, repeat: int = 3):
    best = float("inf")
    for _ in range(repeat):
        db.session.expire_all()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    print(f"{label}: {best * 1000:.0f} ms (best of {repeat})")
    return result


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    url = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False})
    with app.app_context(), app.test_request_context():
        upgrade()
        sync_protocols(protocol_files())
        load_demo()
        db.session.commit()
        start = time.perf_counter()
        generate(n, random.Random(1))
        print(f"generated {n} subjects in {time.perf_counter() - start:.1f} s ({url.split(':')[0]})")
        coordinator = db.session.scalar(select(User).where(User.email == "coordinator@example.org"))
        worklist = timed("worklist service, demo coordinator (5 study-sites)", lambda: build_worklist(coordinator, 14, 100))
        print(f"  overdue {worklist.overdue.total}, open {worklist.open.total}, opening {worklist.opening.total}")
        defier = db.session.scalar(select(Study).where(Study.code == "defier"))
        sh01 = db.session.scalar(select(Site).where(Site.code == "SH01"))
        _rows, total = timed("subject list page 1 (50 rows)", lambda: subject_page(defier, sh01, 1, 50))
        timed("subject list last page", lambda: subject_page(defier, sh01, max(total // 50, 1), 50))
        print(f"  DEFIER at SH01: {total} subjects")
        start = time.perf_counter()
        report = run_nightly(on_date=site_today(sh01), dry_run=True)
        print(
            f"nightly pass, every site, dry run: {time.perf_counter() - start:.1f} s "
            f"({report.overdue_visits} overdue visits, {report.new_flags} new flags, {report.emails_queued} digests)"
        )
    client = app.test_client()
    client.post("/login", data={"email": "coordinator@example.org", "password": DEMO_PASSWORD})
    with app.app_context():
        for url in ("/", "/studies/defier/sites/SH01"):
            timed(f"GET {url} (whole page)", lambda url=url: client.get(url))


if __name__ == "__main__":
    main()
