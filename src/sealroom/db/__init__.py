"""Metadata store: SQLAlchemy models, engine factory and Alembic migrations."""
