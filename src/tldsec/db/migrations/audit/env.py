"""Alembic environment of the audit database (its own database: ``[database] audit_url``).

The plumbing is shared: ``tldsec.db.migrate.run_environment``.
"""

from tldsec.db.migrate import run_environment

run_environment("audit", batch_on_sqlite=False)
