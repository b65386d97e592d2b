"""The registrar console: DPS 3.3 and 3.5's second way to add and remove DS records.

A small server-rendered web application (Starlette, Jinja2; no JavaScript needed) over
HTTPS, in front of the same registry services and DS rules as EPP. It may import
``tldsec.registry``, ``tldsec.audit`` and the EPP server's login gate and error codes;
none of them imports it (import-linter). docs/console.md describes it.
"""
