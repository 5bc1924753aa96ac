"""Alembic environment: runs migrations on the connection Sealroom hands it."""

from __future__ import annotations

from alembic import context

from sealroom.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
