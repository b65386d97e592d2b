"""Database plumbing: the one DeclarativeBase and the engine factory.

Two databases, never one (DPS 5.6): the signer's (keys, cycles) and the registry's
(registrars, domains, DS, audit). Each is a URL in settings; SQLite is the default,
PostgreSQL the production choice.
"""
