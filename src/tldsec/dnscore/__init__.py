"""Pure DNS on bytes and values: names, canonical order, wire form, zone-file I/O,
key tags, DS digests, NSEC3. No I/O except reading and writing zone files."""
