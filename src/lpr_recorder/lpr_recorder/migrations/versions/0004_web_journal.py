"""The operator's web journal (lpr_web): its logins, plate corrections kept
beside the original reads, and the allow/deny/visitor lists.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_users',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(64), nullable=False, unique=True),
        sa.Column('password_hash', sa.Text, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'plate_corrections',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(36), nullable=False, index=True),
        sa.Column('original_plate', sa.String(32), nullable=False),
        sa.Column('plate', sa.String(32), nullable=False),
        sa.Column('corrected_by', sa.String(64), nullable=False),
        sa.Column('note', sa.Text, nullable=False, server_default=''),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'access_entries',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('list_name', sa.String(16), nullable=False, index=True),
        sa.Column('plate', sa.String(32), nullable=False, index=True),
        sa.Column('cameras', sa.Text, nullable=False, server_default=''),
        sa.Column('valid_from', sa.DateTime(timezone=True), nullable=True),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('note', sa.Text, nullable=False, server_default=''),
        sa.Column('created_by', sa.String(64), nullable=False, server_default=''),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('access_entries')
    op.drop_table('plate_corrections')
    op.drop_table('web_users')
