"""The ``tldsec`` command line: one module per command group.

Each module has ``register(subparsers)``; a command parses its arguments, makes one
service call and prints. ``main`` turns a ``TldsecError`` into one line and exit code 1.
"""
