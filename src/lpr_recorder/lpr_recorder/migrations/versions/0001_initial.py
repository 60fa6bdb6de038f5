"""The journal as first released: one row per vehicle pass.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'events',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(36), nullable=False),
        sa.Column('camera_id', sa.String(64), nullable=False),
        sa.Column('site_id', sa.String(64), nullable=False),
        sa.Column('plate', sa.String(32), nullable=False),
        sa.Column('region', sa.String(8), nullable=False),
        sa.Column('plate_format', sa.String(32), nullable=False),
        sa.Column('confidence', sa.Float, nullable=False),
        sa.Column('candidates', sa.JSON, nullable=False),
        sa.Column('read_count', sa.Integer, nullable=False),
        sa.Column('direction', sa.String(16), nullable=False),
        sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('best_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('frame_seq', sa.BigInteger, nullable=False),
        sa.Column('box', sa.JSON, nullable=False),
        sa.Column('frame_path', sa.Text, nullable=False),
        sa.Column('plate_path', sa.Text, nullable=False),
        sa.Column('vehicle_path', sa.Text, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('upload_state', sa.String(16), nullable=False),
        sa.Column('upload_attempts', sa.Integer, nullable=False),
        sa.Column('upload_error', sa.Text, nullable=False),
        sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_events_event_id', 'events', ['event_id'], unique=True)
    op.create_index('ix_events_camera_id', 'events', ['camera_id'])
    op.create_index('ix_events_plate', 'events', ['plate'])
    op.create_index('ix_events_best_seen', 'events', ['best_seen'])
    op.create_index('ix_events_upload_state', 'events', ['upload_state'])


def downgrade() -> None:
    op.drop_table('events')
