"""The Alembic migrations build exactly the models' schema."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ecrf import create_app
from ecrf.extensions import db


def _differences(engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


@pytest.mark.commits
def test_upgrade_on_the_test_database_gives_the_models_schema(app):
    """The session database was built by `upgrade()` (see conftest); nothing differs from the models."""
    assert _differences(db.engine) == []


def test_upgrade_on_an_empty_sqlite_database_then_downgrade_and_upgrade_again(tmp_path):
    fresh = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"})
    with fresh.app_context():
        upgrade()
        assert _differences(db.engine) == []
        downgrade(revision="base")
        upgrade()
        assert _differences(db.engine) == []
        db.engine.dispose()


def test_migrations_leave_sqlite_enforcing_foreign_keys(tmp_path):
    """migrations/env.py turns SQLite's foreign keys off to rebuild tables; the connections used after have them on."""
    from sqlalchemy import text

    fresh = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1}})
    with fresh.app_context():
        upgrade()
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'arms'")).scalar().count("AUTOINCREMENT") == 1
        db.engine.dispose()
