"""f: protocol versions: each study's loaded protocol stored with its digest, the version in force at run time

The app no longer reads the protocol files at run time: `flask ecrf load-protocols` stores the validated
protocol (canonical JSON) and its SHA-256 in `protocol_versions`, and the study's `protocol_sha256` names the
version in force. A study already loaded gets its version here when its file on disk still has the loaded
digest (the same content, so exactly what was loaded); otherwise `flask ecrf load-protocols` stores it (the
app says so at start and in `flask ecrf protocols`).

Revision ID: 5f0c2d7e9a13
Revises: 7c1e5a9d2b40
Create Date: 2026-11-27 18:00:00

"""
from datetime import datetime, timezone
from pathlib import Path

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5f0c2d7e9a13'
down_revision = '7c1e5a9d2b40'
branch_labels = None
depends_on = None


def upgrade():
    versions = op.create_table('protocol_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['studies.id'], name=op.f('fk_protocol_versions_study_id_studies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_protocol_versions')),
    sa.UniqueConstraint('study_id', 'sha256', name=op.f('uq_protocol_versions_study_id_sha256'))
    )
    _store_loaded_versions(versions)


def _store_loaded_versions(versions):
    """The version in force of each study already loaded, from its file when that still has the loaded digest."""
    connection = op.get_bind()
    studies = connection.execute(sa.text('SELECT id, code, protocol_sha256 FROM studies')).all()
    if not studies:
        return
    from flask import current_app

    from ecrf.protocols.loader import ProtocolError, canonical_json, load_protocol, protocol_digest

    directory = Path(current_app.config['ECRF_PROTOCOL_DIR'])
    for study_id, code, digest in studies:
        path = directory / f'{code}.yaml'
        try:
            protocol = load_protocol(path)
        except ProtocolError:
            continue
        if protocol_digest(protocol) == digest:
            connection.execute(versions.insert().values(
                study_id=study_id, sha256=digest, document=canonical_json(protocol), file_name=path.name,
                loaded_at=datetime.now(timezone.utc),
            ))


def downgrade():
    op.drop_table('protocol_versions')
