"""tldsec: DNSSEC for a top-level-domain registry, run as its DNSSEC Policy Statement says."""

__version__ = "0.1.0"
