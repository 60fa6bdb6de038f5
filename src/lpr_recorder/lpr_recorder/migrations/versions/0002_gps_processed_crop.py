"""GPS position of the camera and the processed (rectified) plate crop.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.add_column(sa.Column('latitude', sa.Float, nullable=True))
        batch.add_column(sa.Column('longitude', sa.Float, nullable=True))
        batch.add_column(sa.Column('processed_path', sa.Text, nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('events') as batch:
        batch.drop_column('processed_path')
        batch.drop_column('longitude')
        batch.drop_column('latitude')
