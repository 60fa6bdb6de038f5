"""Central access lists pushed to the edges: entries per scope, a version per
scope, the version each device acknowledged.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'list_entries',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('scope', sa.String(64), nullable=False),
        sa.Column('list_name', sa.String(16), nullable=False),
        sa.Column('plate', sa.String(32), nullable=False),
        sa.Column('cameras', sa.Text, nullable=False),
        sa.Column('valid_from', _TS, nullable=True),
        sa.Column('valid_until', _TS, nullable=True),
        sa.Column('note', sa.Text, nullable=False),
        sa.Column('created_by', sa.String(64), nullable=False),
        sa.Column('created_at', _TS, nullable=False),
    )
    op.create_index('ix_list_entries_scope', 'list_entries', ['scope'])
    op.create_index('ix_list_entries_plate', 'list_entries', ['plate'])
    op.create_table(
        'list_versions',
        sa.Column('scope', sa.String(64), primary_key=True),
        sa.Column('version', sa.Integer, nullable=False),
        sa.Column('changed_at', _TS, nullable=False),
    )
    op.create_table(
        'list_acks',
        sa.Column('device_id', sa.Integer, sa.ForeignKey('devices.id'), primary_key=True),
        sa.Column('scope', sa.String(8), primary_key=True),
        sa.Column('version', sa.Integer, nullable=False),
        sa.Column('error', sa.Text, nullable=False),
        sa.Column('acked_at', _TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table('list_acks')
    op.drop_table('list_versions')
    op.drop_index('ix_list_entries_plate', 'list_entries')
    op.drop_index('ix_list_entries_scope', 'list_entries')
    op.drop_table('list_entries')
