"""Alembic environment of the signer database (DPS 5.6: apart from the registry's)."""
