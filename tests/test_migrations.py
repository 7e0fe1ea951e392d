"""The Alembic migrations build exactly the models' schema."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from ecrf import create_app
from ecrf.extensions import db


def _differences(engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection), db.metadata)


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
