"""Alembic environment of the registry database (run by ``tldsec db upgrade``).

The plumbing is shared: ``tldsec.db.migrate.run_environment``.
"""

from tldsec.db.migrate import run_environment

run_environment("registry")
