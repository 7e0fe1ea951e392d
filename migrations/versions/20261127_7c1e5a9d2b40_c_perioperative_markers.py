"""c: perioperative events record troponin and CK-MB apart, each with its ULN, pre-PCI value, peak and sampling time

The single marker block (marker, marker_unit, marker_peak, marker_uln, marker_uln_multiple) becomes two
(ctn_* and ckmb_*), with per-marker verdicts and the protocol's rise rule used (mi_rise_percent). Existing
rows move to the block of the marker they named (a row that said no marker was measured says so for both;
one that named a marker leaves the other unanswered); the verdict is judged again on the exact values
(peak > threshold x ULN, so a 5.04x peak that was "no" becomes "yes"); no pre-PCI value was asked before,
so none is moved. Missing-data codes move with their field. Signatures of such entries no longer match
their digest (the entered fields changed) and must be given again.

Revision ID: 7c1e5a9d2b40
Revises: abe46eab23f6
Create Date: 2026-11-27 16:00:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c1e5a9d2b40'
down_revision = 'abe46eab23f6'
branch_labels = None
depends_on = None

MARKERS = ('ctn', 'ckmb')
OLD = ('marker_measured', 'marker', 'marker_unit', 'marker_peak', 'marker_uln', 'marker_uln_multiple')


def _marker_columns(prefix):
    return [
        sa.Column(f'{prefix}_measured', sa.Boolean(), nullable=True),
        sa.Column(f'{prefix}_unit', sa.String(length=20), nullable=True),
        sa.Column(f'{prefix}_uln', sa.Numeric(precision=9, scale=3), nullable=True),
        sa.Column(f'{prefix}_pre', sa.Numeric(precision=9, scale=3), nullable=True),
        sa.Column(f'{prefix}_peak', sa.Numeric(precision=9, scale=3), nullable=True),
        sa.Column(f'{prefix}_peak_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column(f'{prefix}_uln_multiple', sa.Numeric(precision=10, scale=1), nullable=True),
        sa.Column(f'{prefix}_mi', sa.Boolean(), nullable=True),
    ]


def _sql(value):
    """A boolean literal as this database writes it."""
    return str((sa.true() if value else sa.false()).compile(op.get_bind()))


def _rename_missing(rename):
    """Apply `rename(entry_id, missing) -> missing` to the missing-data codes of every perioperative events entry."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, missing FROM crf_entries WHERE instrument = 'perioperative_events'")).all()
    for entry_id, missing in rows:
        missing = json.loads(missing) if isinstance(missing, str) else (missing or {})
        changed = rename(entry_id, missing)
        if changed != missing:
            bind.execute(sa.text("UPDATE crf_entries SET missing = :missing WHERE id = :id"),
                         {"missing": json.dumps(changed), "id": entry_id})


def upgrade():
    with op.batch_alter_table('perioperative_events_data', schema=None) as batch_op:
        for prefix in MARKERS:
            for column in _marker_columns(prefix):
                batch_op.add_column(column)
        batch_op.add_column(sa.Column('mi_rise_percent', sa.Numeric(precision=5, scale=1), nullable=True))

    true, false = _sql(True), _sql(False)
    for prefix in MARKERS:
        op.execute(f"""
            UPDATE perioperative_events_data SET
              {prefix}_measured = marker_measured, {prefix}_unit = marker_unit, {prefix}_uln = marker_uln,
              {prefix}_peak = marker_peak, {prefix}_uln_multiple = marker_uln_multiple,
              {prefix}_mi = CASE WHEN marker_peak IS NULL OR marker_uln IS NULL OR mi_threshold_uln IS NULL THEN NULL
                                 WHEN marker_peak > mi_threshold_uln * marker_uln THEN {true} ELSE {false} END
            WHERE marker = '{prefix}'
        """)
    op.execute(f"UPDATE perioperative_events_data SET ctn_measured = {false}, ckmb_measured = {false} WHERE marker_measured = {false}")
    op.execute(f"UPDATE perioperative_events_data SET periprocedural_mi = {true} WHERE ctn_mi = {true} OR ckmb_mi = {true}")

    markers = dict(op.get_bind().execute(sa.text("SELECT entry_id, marker FROM perioperative_events_data")).all())

    def forward(entry_id, missing):
        out = {k: v for k, v in missing.items() if k not in OLD}
        if 'marker_measured' in missing:
            out.update({f'{prefix}_measured': missing['marker_measured'] for prefix in MARKERS})
        prefix = markers.get(entry_id) or 'ctn'
        for name in ('unit', 'peak', 'uln'):
            if f'marker_{name}' in missing:
                out[f'{prefix}_{name}'] = missing[f'marker_{name}']
        return out

    _rename_missing(forward)

    with op.batch_alter_table('perioperative_events_data', schema=None) as batch_op:
        for name in OLD:
            batch_op.drop_column(name)


def downgrade():
    with op.batch_alter_table('perioperative_events_data', schema=None) as batch_op:
        batch_op.add_column(sa.Column('marker_measured', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('marker', sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column('marker_unit', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('marker_peak', sa.Numeric(precision=9, scale=3), nullable=True))
        batch_op.add_column(sa.Column('marker_uln', sa.Numeric(precision=9, scale=3), nullable=True))
        batch_op.add_column(sa.Column('marker_uln_multiple', sa.Numeric(precision=10, scale=1), nullable=True))

    # One block only: troponin where it was measured, else CK-MB (the other marker and the pre-PCI values are lost).
    true = _sql(True)
    for prefix, condition in (('ckmb', f"ckmb_measured = {true}"), ('ctn', f"ctn_measured = {true}")):
        op.execute(f"""
            UPDATE perioperative_events_data SET marker_measured = {prefix}_measured, marker = '{prefix}',
              marker_unit = {prefix}_unit, marker_peak = {prefix}_peak, marker_uln = {prefix}_uln,
              marker_uln_multiple = {prefix}_uln_multiple
            WHERE {condition}
        """)
    op.execute("UPDATE perioperative_events_data SET marker_measured = ctn_measured "
               "WHERE marker IS NULL AND ctn_measured IS NOT NULL AND ctn_measured = ckmb_measured")

    def back(entry_id, missing):
        out = {k: v for k, v in missing.items() if not k.startswith(('ctn_', 'ckmb_'))}
        for prefix in ('ckmb', 'ctn'):
            for name in ('measured', 'unit', 'peak', 'uln'):
                if f'{prefix}_{name}' in missing:
                    out[f'marker_{name}'] = missing[f'{prefix}_{name}']
        return out

    _rename_missing(back)

    with op.batch_alter_table('perioperative_events_data', schema=None) as batch_op:
        for prefix in MARKERS:
            for column in _marker_columns(prefix):
                batch_op.drop_column(column.name)
        batch_op.drop_column('mi_rise_percent')
