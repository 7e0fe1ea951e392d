"""Configuration classes. Values come from the environment where it sets them.

Select a class with ``ECRF_CONFIG`` (``development`` by default, ``production``,
``testing``). Environment overrides: ``ECRF_DATABASE_URL``, ``SECRET_KEY``,
``MAIL_SERVER``, ``MAIL_PORT``, ``MAIL_DEFAULT_SENDER``.
"""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = _env("SECRET_KEY", "dev-only-secret-change-me")
    SQLALCHEMY_DATABASE_URI = _env("ECRF_DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'ecrf.sqlite3'}")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    MAIL_SERVER = _env("MAIL_SERVER", "127.0.0.1")
    MAIL_PORT = int(_env("MAIL_PORT", "25"))
    MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER", "ecrf@localhost")
    #: Folder holding one <study>.yaml per study.
    ECRF_PROTOCOL_DIR = _env("ECRF_PROTOCOL_DIR", str(BASE_DIR / "ecrf" / "protocols"))
    #: Visits whose window opens within this many days are listed as "opening soon".
    ECRF_WORKLIST_HORIZON_DAYS = 14
    #: Each worklist section shows this many of its most urgent visits (and counts all).
    ECRF_WORKLIST_LIMIT = 100
    ECRF_PAGE_SIZE = 50
    BOOTSTRAP_SERVE_LOCAL = True  # Bootstrap 5 from the app itself, never a CDN
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"


class DevelopmentConfig(Config):
    """Local development: the embedded SQLite database under instance/."""

    DEBUG = False


class TestingConfig(Config):
    """Test runs; the database comes from ECRF_TEST_DATABASE_URL or a temporary SQLite file."""

    TESTING = True
    SECRET_KEY = "testing-secret"


class ProductionConfig(Config):
    """Production: secure cookies; SECRET_KEY and ECRF_DATABASE_URL must come from the environment."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
