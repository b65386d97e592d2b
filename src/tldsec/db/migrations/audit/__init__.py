"""Alembic environment of the audit database."""
