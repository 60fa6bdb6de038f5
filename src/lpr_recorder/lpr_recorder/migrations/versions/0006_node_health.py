"""The graph's health: the newest /diagnostics status per node, written by the
recorder, shown by the web journal's health page.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'node_health',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('node', sa.String(200), nullable=False, unique=True),
        sa.Column('camera', sa.String(64), nullable=False, server_default=''),
        sa.Column('level', sa.Integer, nullable=False, server_default='0'),
        sa.Column('message', sa.Text, nullable=False, server_default=''),
        sa.Column('figures', sa.JSON, nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('node_health')
