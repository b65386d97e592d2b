"""The unsigned zone from the registry: the full build (``builder``, ``full``), the
incremental build from the previous file and the changes since (``incremental``,
``owners``, ``blocks``), the record a built file carries (``buildinfo``), the serial."""
