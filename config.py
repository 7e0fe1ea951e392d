"""Configuration classes. Values come from the environment where it sets them.

Select a class with ``ECRF_CONFIG`` (``development`` by default, ``production``,
``testing``). Environment overrides: ``ECRF_DATABASE_URL``, ``SECRET_KEY``,
``MAIL_SERVER``, ``MAIL_PORT``, ``MAIL_DEFAULT_SENDER``; the API's rate limits: ``ECRF_API_RATE_LIMIT``,
``ECRF_API_WRITE_RATE_LIMIT``, ``ECRF_RATELIMIT_STORAGE_URI``.

``SECRET_KEY`` is read by ``create_app`` (not at import): production refuses to start
without it; development without it uses a random key made once in ``instance/secret_key``
(see `instance_secret_key`); only the testing class has a fixed key.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


class Config:
    """Settings shared by every environment."""

    #: Signs sessions and CSRF tokens. Never a known value: `create_app` takes it from the environment (SECRET_KEY),
    #: or, outside production, from the installation's own random file (`instance_secret_key`).
    SECRET_KEY: str | None = None
    #: The instance folder (the generated secret key; the SQLite database by default). Tests pass another one.
    ECRF_INSTANCE_DIR = str(INSTANCE_DIR)
    SQLALCHEMY_DATABASE_URI = _env("ECRF_DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'ecrf.sqlite3'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    MAIL_SERVER = _env("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = int(_env("MAIL_PORT", "25"))
    MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "ecrf@localhost")
    #: Seconds to wait for the SMTP server.
    ECRF_SMTP_TIMEOUT = 10
    #: The address of the app, for links in emails.
    ECRF_BASE_URL = _env("ECRF_BASE_URL", "http://127.0.0.1:5000")
    #: Folder holding one <study>.yaml per study. The app runs each study's LOADED version (`flask ecrf load-protocols`).
    ECRF_PROTOCOL_DIR = _env("ECRF_PROTOCOL_DIR", str(BASE_DIR / "ecrf" / "protocols"))
    #: At start, compare the protocol files with the loaded versions and log a warning naming each file that differs.
    ECRF_CHECK_PROTOCOLS_AT_START = True
    #: Visits whose window opens within this many days are listed as "opening soon".
    ECRF_WORKLIST_HORIZON_DAYS = 14
    #: Each worklist section shows this many of its most urgent visits (and counts all).
    ECRF_WORKLIST_LIMIT = 100
    ECRF_PAGE_SIZE = 50
    #: Finished export files are kept this many days, then the nightly pass deletes them.
    ECRF_EXPORT_KEEP_DAYS = int(_env("ECRF_EXPORT_KEEP_DAYS", "30"))
    #: Where finished export files are kept; empty: `exports` in the instance folder.
    ECRF_EXPORT_DIR = _env("ECRF_EXPORT_DIR", "")
    #: The folder of the official CDISC ODM 1.3.2 schema (ODM1-3-2.xsd and the files it includes), which an ODM import
    #: validates its file against.
    ECRF_ODM_SCHEMA_DIR = _env("ECRF_ODM_SCHEMA_DIR", str(BASE_DIR.parent / "shared" / "odm-1.3.2"))
    #: Threads per web process running exports in the background (0: none; the scheduler then runs them).
    ECRF_EXPORT_WORKERS = 2
    BOOTSTRAP_SERVE_LOCAL = True  # Bootstrap 5 from the app itself, never a CDN
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    #: argon2id parameters for new password hashes; empty: argon2-cffi's defaults (RFC 9106's low-memory profile).
    ECRF_ARGON2: dict[str, int] = {}
    #: Failed log-ins in a row that lock an account, and for how long.
    ECRF_MAX_FAILED_LOGINS = 5
    ECRF_LOCKOUT_MINUTES = 15
    #: A session ends after this many minutes without a request.
    ECRF_IDLE_MINUTES = 30
    #: Flask refuses a session cookie last signed longer ago than the idle limit (each request signs it
    #: anew); sessions are not "permanent", so the cookie also ends when the browser closes.
    PERMANENT_SESSION_LIFETIME = timedelta(minutes=ECRF_IDLE_MINUTES)
    #: Rate limits of the API per user (all their tokens together), in Flask-Limiter's notation ("600 per minute", "10 per second; 500 per hour";
    #: empty: none). Every request with a token counts toward the first; a write (POST, PUT, PATCH, DELETE) toward
    #: both. Above them the API answers 429 with Retry-After (ecrf/api/limits.py). Nothing else is limited.
    ECRF_API_RATE_LIMIT = _env("ECRF_API_RATE_LIMIT", "600 per minute")
    ECRF_API_WRITE_RATE_LIMIT = _env("ECRF_API_WRITE_RATE_LIMIT", "120 per minute")
    #: Where the counts are kept. memory:// is per process: with several workers (gunicorn -w 4) each counts alone and
    #: a token gets up to that many times its limit. Production with several workers sets a store they share: Redis,
    #: redis://HOST:6379/0 (install the client: pip install "limits[redis]"); memcached:// also works.
    RATELIMIT_STORAGE_URI = _env("ECRF_RATELIMIT_STORAGE_URI", "memory://")
    RATELIMIT_KEY_PREFIX = "ecrf"
    #: Fixed windows: a count starts at the first request and ends a window later; Retry-After says when.
    RATELIMIT_STRATEGY = "fixed-window"
    #: A store that cannot be reached lets requests through (and logs it) rather than stop the sites' work.
    RATELIMIT_SWALLOW_ERRORS = True
    #: Sent with every response. The app serves all its files itself; the only inline styles allowed
    #: are `style=` attributes (the subject timeline places its bars with them): no inline <style>/<script>.
    #: Bootstrap's CSS draws some controls with data: SVG images.
    ECRF_SECURITY_HEADERS = {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }


class DevelopmentConfig(Config):
    """Local development: the embedded SQLite database under instance/."""

    DEBUG = False


class TestingConfig(Config):
    """Test runs; the database comes from ECRF_TEST_DATABASE_URL or a temporary SQLite file."""

    TESTING = True
    #: The same algorithm with cheap parameters (as test settings of other frameworks do): hashing a password costs
    #: about 1 ms instead of 150 ms, which the suite's thousands of log-ins would otherwise pay. Never outside tests.
    ECRF_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
    SECRET_KEY = "testing-secret"
    #: Apps made by tests start on databases not yet migrated (or unreachable on purpose); the test of the check turns it on.
    ECRF_CHECK_PROTOCOLS_AT_START = False
    #: Exports stay queued (tests run them with `run_job`, or turn the threads on with a live server).
    ECRF_EXPORT_WORKERS = 0
    #: The rate limiter runs in every API test, with limits no test reaches; the test of the limits lowers them.
    ECRF_API_RATE_LIMIT = "100000 per minute"
    ECRF_API_WRITE_RATE_LIMIT = "100000 per minute"
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_SWALLOW_ERRORS = False  # a fault of the limiter fails the test instead of passing unlimited


class ProductionConfig(Config):
    """Production: secure cookies; SECRET_KEY and ECRF_DATABASE_URL must come from the environment."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    #: Browsers use HTTPS only for a year (production sits behind TLS; never in development).
    ECRF_SECURITY_HEADERS = {**Config.ECRF_SECURITY_HEADERS, "Strict-Transport-Security": "max-age=31536000; includeSubDomains"}


#: The file in the instance folder holding a development installation's generated key.
SECRET_KEY_FILE = "secret_key"


def instance_secret_key(instance_dir: Path) -> str:
    """The installation's random key from `instance_dir/secret_key`, made on first use (mode 0600) and reused after.

    The file appears whole or not at all: the key is written to a private temporary file that is then
    hard-linked into place, which fails if the file exists. Two processes starting together (the web app and
    the scheduler under `make run`) therefore end with the same key: the second one reads the first one's.
    """
    path = Path(instance_dir) / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{SECRET_KEY_FILE}.")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first: its key is the one
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable secret key: delete the file to have a new one made, or set SECRET_KEY")
    return key


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
