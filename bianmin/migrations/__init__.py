"""Alembic migrations for bianmin's schema (every schema change is a new revision in ``versions/``)."""
