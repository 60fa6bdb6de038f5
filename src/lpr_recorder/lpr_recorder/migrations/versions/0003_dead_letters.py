"""Dead letters: events the journal refused for good (constraint, bad data),
kept with the reason instead of being retried forever.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dead_letters',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(36), nullable=False, index=True),
        sa.Column('camera_id', sa.Text, nullable=False, server_default=''),
        sa.Column('plate', sa.Text, nullable=False, server_default=''),
        sa.Column('reason', sa.Text, nullable=False),
        sa.Column('detail', sa.JSON, nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('dead_letters')
