"""Fixtures: the app on a migrated database, clients, factories, clock and query counters.

The database is SQLite in a temporary folder unless ECRF_TEST_DATABASE_URL names
another (CI sets a PostgreSQL URL). The schema is built by the Alembic
migrations, not by create_all, so every run also proves the migrations.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

import pytest
import time_machine
from flask_migrate import upgrade
from hypothesis import settings
from sqlalchemy import event, select, text

from ecrf import create_app
from ecrf.api.tokens import create_token
from ecrf.auth.models import Membership, Role, User
from ecrf.extensions import db
from ecrf.protocols import protocol_files, protocols
from ecrf.studies.models import Site, Study, StudySite
from ecrf.studies.services import sync_protocols
from ecrf.subjects.services import enrol_subject

#: Hypothesis: 20 examples per property in ordinary runs; HYPOTHESIS_PROFILE=thorough for a long search.
settings.register_profile("default", max_examples=20, deadline=None)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

PASSWORD = "correct horse battery"
#: Tables kept between tests: the protocols, and the audit trail (append-only, even here); the rest is emptied.
KEPT_TABLES = {"studies", "protocol_versions", "arms", "visit_definitions", "alembic_version", "audit_events"}
REQUIRE_REAL_PARTS = os.environ.get("ECRF_REQUIRE_REAL_PARTS") == "1"


def pytest_report_header(config):
    url = os.environ.get("ECRF_TEST_DATABASE_URL")
    lines = [f"database: {url.split('@')[-1] if url else 'SQLite in a temporary folder (set ECRF_TEST_DATABASE_URL for PostgreSQL)'}"]
    chromium = os.environ.get("ECRF_CHROMIUM", "/usr/bin/chromium")
    lines.append(
        f"browser: {chromium}" if os.path.exists(chromium) else f"browser: {chromium} is missing: browser tests are skipped (apt-get install chromium)"
    )
    return lines


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The application on a freshly migrated database with the five protocols loaded."""
    url = os.environ.get("ECRF_TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    application = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, "ECRF_EXPORT_DIR": str(tmp_path_factory.mktemp("exports"))})
    with application.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        sync_protocols(protocol_files())
        db.session.commit()
        db.session.remove()
    return application


def _commits(request) -> bool:
    """Whether a test needs real commits: it serves pages to other threads or processes (live_server), or is
    marked `commits` (it opens its own connections, runs threads, or tests what a commit does)."""
    if os.environ.get("ECRF_TESTS_COMMIT") == "1":  # every test commits for real (to compare, or to rule the fixture out)
        return True
    return "live_server" in request.fixturenames or request.node.get_closest_marker("commits") is not None


@pytest.fixture(autouse=True)
def _app_context(request, app):
    """Each test runs in an app context and leaves only the kept tables behind: most in one transaction rolled
    back at the end (the app's commits become savepoints in it), those that need real commits by emptying the
    tables after them."""
    with app.app_context():
        if _commits(request):
            yield
            _empty_tables()
        else:
            with _rolled_back(app):
                yield


def _empty_tables() -> None:
    db.session.remove()
    tables = [t for t in reversed(db.metadata.sorted_tables) if t.name not in KEPT_TABLES]
    with db.engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())
    sync_protocols(protocol_files())  # a test may have changed a protocol's rows
    db.session.commit()
    db.session.remove()


@contextmanager
def _rolled_back(app):
    """Every session of the block works in one outer transaction on one connection, rolled back at the end; a
    session's commit releases a savepoint in it (SQLAlchemy's "join an external transaction" recipe)."""
    db.session.remove()
    engines = db._app_engines[app]
    engine = engines[None]
    connection = engine.connect()
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:  # pysqlite begins transactions itself and breaks SAVEPOINT: take over, as SQLAlchemy's docs advise
        driver = connection.connection.dbapi_connection
        driver.isolation_level = None
    outer = connection.begin()
    if sqlite:
        connection.exec_driver_sql("BEGIN")
    engines[None] = connection
    db.session.configure(join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        db.session.remove()
        db.session.configure(join_transaction_mode="conditional_savepoint")
        engines[None] = engine
        outer.rollback()
        if sqlite:
            driver.isolation_level = ""
        connection.close()


@pytest.fixture(scope="session")
def live_server(app):
    """The app served by a real, threaded HTTP server on 127.0.0.1 and a free port; yields its base URL.
    Requests from threads or processes reach it at the same time (the races of tests/races.py)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


@contextmanager
def frozen_at(moment: datetime):
    """Move the clock to `moment` (UTC if naive) for the duration of the block."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    with time_machine.travel(moment, tick=False):
        yield


@pytest.fixture
def clock():
    """Move the clock: `clock(datetime(...))` is a context manager."""
    return frozen_at


@pytest.fixture(autouse=True)
def _module_clock(request):
    """A test module that sets NOW runs all its tests with the clock stopped at NOW (UTC if naive)."""
    moment = getattr(request.module, "NOW", None)
    if moment is None:
        yield
        return
    with frozen_at(moment):
        yield


def study(code: str) -> Study:
    return db.session.scalar(select(Study).where(Study.code == code))


@pytest.fixture
def make_site():
    """Factory: a site running the given studies."""

    def make(code: str, studies: list[str], timezone_name: str = "Asia/Shanghai", country: str = "CN") -> Site:
        site = Site(code=code, name=f"Test site {code}", timezone=timezone_name, country=country)
        db.session.add(site)
        db.session.flush()
        for study_code in studies:
            db.session.add(StudySite(study_id=study(study_code).id, site_id=site.id))
        db.session.commit()
        return site

    return make


@pytest.fixture
def make_user():
    """Factory: a user with memberships given as (study code, site, role)."""

    def make(email: str, memberships: list[tuple[str, Site, Role]] = (), name: str = "Test User") -> User:
        user = User(email=email, full_name=name)
        user.set_password(PASSWORD)
        db.session.add(user)
        db.session.flush()
        for study_code, site, role in memberships:
            db.session.add(Membership(user_id=user.id, study_id=study(study_code).id, site_id=site.id, role=role))
        db.session.commit()
        return user

    return make


@pytest.fixture
def make_subject():
    """Factory: an enrolled subject (through the enrolment service)."""

    def make(study_code: str, site: Site, index_date: date, arm: str | None = None, consent_date: date | None = None, index_time: time | None = None):
        the_study = study(study_code)
        if arm is None and the_study.allocation == "chosen":
            arm = the_study.arms[0].code
        subject = enrol_subject(
            the_study,
            site,
            index_date=index_date,
            consent_date=consent_date or index_date,
            arm_code=arm if the_study.allocation == "chosen" else None,
            index_time=index_time or (time(9, 0) if protocols()[study_code].index.with_time else None),
        )
        if arm and the_study.allocation == "randomized":
            subject.arm = next(a for a in the_study.arms if a.code == arm)
        db.session.commit()
        return subject

    return make


@pytest.fixture
def make_screening():
    """Factory: a screening record with values meeting every criterion, changed by `numbers` / `answers`."""
    from ecrf.screening.eligibility import eligible_example, values_from_numbers
    from ecrf.screening.services import save_screening

    def make(
        study_code: str, site: Site, screening_date: date | None = None, numbers: dict | None = None, answers: dict | None = None, strata: dict | None = None
    ):
        from ecrf.clock import now_utc, site_today

        day = screening_date or site_today(site)
        example_numbers, example_answers = eligible_example(protocols()[study_code])
        values = values_from_numbers({**example_numbers, **(numbers or {})}, screening_date=day, at=now_utc())
        record = save_screening(
            study(study_code), site, screening_date=day, values=values, answers={**example_answers, **(answers or {})}, strata=strata or {}, by=None
        )
        db.session.commit()
        return record

    return make


_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url: str) -> str:
    """The CSRF token of the form on the page at `url`."""
    page = client.get(url).get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def page_fields(client, url: str, action: str | None = None) -> dict[str, str]:
    """The hidden fields one rendering of the page at `url` gives its form (the one posting to `action`, if given):
    CSRF token, the version the form was opened at, its form key. Post them twice to post that rendering twice."""
    from tests.web import hidden_fields

    return hidden_fields(client.get(url).get_data(as_text=True), action)


def post_form(client, url: str, data: dict, **kwargs):
    """Post a form the way a browser does: with the hidden fields the page gave it, then the values typed."""
    hidden = page_fields(client, url)
    assert "csrf_token" in hidden, f"no CSRF token on {url}"
    return client.post(url, data={**hidden, **data}, **kwargs)


@pytest.fixture
def login(client):
    """Log the test client in as `user`."""

    def do(user: User):
        response = post_form(client, "/login", {"email": user.email, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return do


@pytest.fixture
def count_queries(app):
    """Context manager counting the SQL statements run inside it."""

    @contextmanager
    def counting():
        statements: list[str] = []

        def record(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            event.remove(db.engine, "before_cursor_execute", record)

    return counting


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives; it can be stopped and started."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as probe:  # Controller(port=0) cannot tell its port: take a free one first
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages: list = []
        #: What the server answers to a message: "250 OK", or e.g. "451 4.3.0 Try again later".
        self.reply = "250 OK"
        self._controller = None
        self.running = False

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        server = self

        class Keep:
            async def handle_DATA(self, smtp, session, envelope):
                from email import message_from_bytes, policy

                if server.reply.startswith("250"):
                    server.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
                return server.reply

        self._controller = Controller(Keep(), hostname="127.0.0.1", port=self.port)  # a stopped controller cannot start again
        self._controller.start()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._controller.stop()
            self.running = False

    def to(self, address: str) -> list:
        """The messages received for one recipient."""
        return [message for recipients, message in self.messages if address in recipients]


@pytest.fixture
def smtp_server(app, monkeypatch):
    """The app sends its mail to a fresh SMTP server on 127.0.0.1 for this test."""
    server = SmtpServer()
    server.start()
    monkeypatch.setitem(app.config, "MAIL_SERVER", "127.0.0.1")
    monkeypatch.setitem(app.config, "MAIL_PORT", server.port)
    monkeypatch.setitem(app.config, "ECRF_SMTP_TIMEOUT", 2)
    yield server
    server.stop()


class ApiClient:
    """A test client that sends a token with every request (the API's way in), and JSON bodies."""

    def __init__(self, client, secret: str) -> None:
        self.client = client
        self.secret = secret

    def open(self, method: str, url: str, headers: dict | None = None, **kwargs):
        """A request with `Authorization: Bearer <token>` (and whatever other headers are given)."""
        return self.client.open(url, method=method, headers={"Authorization": f"Bearer {self.secret}", **(headers or {})}, **kwargs)

    def get(self, url: str, **kwargs):
        return self.open("GET", url, **kwargs)

    def post(self, url: str, **kwargs):
        return self.open("POST", url, **kwargs)

    def put(self, url: str, **kwargs):
        return self.open("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs):
        return self.open("PATCH", url, **kwargs)


@pytest.fixture
def api(app):
    """Factory: `api(user, read_only=False, days=30)` gives an ApiClient acting with a new token of `user`."""

    def make(user: User, read_only: bool = False, days: int = 30, name: str = "test token") -> ApiClient:
        _token, secret = create_token(user, name, days, read_only=read_only)
        db.session.commit()
        return ApiClient(app.test_client(), secret)

    return make
