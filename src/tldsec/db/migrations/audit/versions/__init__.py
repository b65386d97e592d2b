"""Revisions of the audit database."""
