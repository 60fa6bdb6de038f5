"""The server schema as first released: devices, events, images.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'devices',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('name', sa.String(64), nullable=False, unique=True),
        sa.Column('role', sa.String(8), nullable=False),
        sa.Column('token_hash', sa.String(64), nullable=False, unique=True),
        sa.Column('created_at', _TS, nullable=False),
        sa.Column('revoked_at', _TS, nullable=True),
        sa.Column('last_seen', _TS, nullable=True),
        sa.Column('last_heartbeat', _TS, nullable=True),
        sa.Column('last_address', sa.String(64), nullable=False),
        sa.Column('status', sa.JSON, nullable=True),
    )
    op.create_table(
        'events',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_id', sa.String(36), nullable=False, unique=True),
        sa.Column('device_id', sa.Integer, sa.ForeignKey('devices.id'), nullable=False),
        sa.Column('camera_id', sa.String(64), nullable=False),
        sa.Column('site_id', sa.String(64), nullable=False),
        sa.Column('plate', sa.String(32), nullable=False),
        sa.Column('region', sa.String(8), nullable=False),
        sa.Column('plate_format', sa.String(32), nullable=False),
        sa.Column('confidence', sa.Float, nullable=True),
        sa.Column('candidates', sa.JSON, nullable=False),
        sa.Column('read_count', sa.Integer, nullable=False),
        sa.Column('direction', sa.String(16), nullable=False),
        sa.Column('vehicle_type', sa.String(32), nullable=False),
        sa.Column('vehicle_color', sa.String(32), nullable=False),
        sa.Column('first_seen', _TS, nullable=False),
        sa.Column('last_seen', _TS, nullable=False),
        sa.Column('best_seen', _TS, nullable=False),
        sa.Column('box', sa.JSON, nullable=False),
        sa.Column('latitude', sa.Float, nullable=True),
        sa.Column('longitude', sa.Float, nullable=True),
        sa.Column('images_reduced', sa.Boolean, nullable=False),
        sa.Column('source', sa.String(16), nullable=False),
        sa.Column('received_at', _TS, nullable=False),
    )
    op.create_index('ix_events_device_id', 'events', ['device_id'])
    op.create_index('ix_events_plate', 'events', ['plate'])
    op.create_index('ix_events_best_seen', 'events', ['best_seen'])
    op.create_table(
        'images',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('event_pk', sa.Integer, sa.ForeignKey('events.id'), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('path', sa.Text, nullable=False),
        sa.Column('size', sa.Integer, nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.UniqueConstraint('event_pk', 'kind'),
    )
    op.create_index('ix_images_event_pk', 'images', ['event_pk'])


def downgrade() -> None:
    op.drop_table('images')
    op.drop_table('events')
    op.drop_table('devices')
