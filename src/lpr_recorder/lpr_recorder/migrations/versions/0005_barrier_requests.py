"""Manual barrier opens from the web journal: who asked when (and for which
camera or event), and what the access node's driver answered.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'barrier_requests',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('camera_id', sa.String(64), nullable=False, server_default=''),
        sa.Column('event_id', sa.String(36), nullable=False, server_default=''),
        sa.Column('plate', sa.String(32), nullable=False, server_default=''),
        sa.Column('reason', sa.Text, nullable=False, server_default=''),
        sa.Column('requested_by', sa.String(64), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column('state', sa.String(16), nullable=False, server_default='pending', index=True),
        sa.Column('result', sa.Text, nullable=False, server_default=''),
        sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table('barrier_requests')
