"""Registry deposits: the objects a registry moves in bulk (RFC 9022 full deposits and
the CSV form), read and written here, imported by ``registry/deposit/load.py``."""
