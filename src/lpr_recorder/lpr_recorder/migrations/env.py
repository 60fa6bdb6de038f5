"""Alembic environment: runs on the connection the journal hands over."""
from alembic import context

from lpr_recorder.journal import Base

connection = context.config.attributes['connection']
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == 'sqlite')  # SQLite alters tables by copy
with context.begin_transaction():
    context.run_migrations()
