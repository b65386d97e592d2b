"""Alembic environment of the signer database (``[database] signer_url``).

The plumbing is shared: ``tldsec.db.migrate.run_environment``.
"""

from tldsec.db.migrate import run_environment

run_environment("signer")
