"""The verifier: independent checks of a signed zone before distribution (DPS 6.6).

One driver plus a list of checks (decisions 48, 55; import-linter holds the layers);
docs/verify.md, "The checks", maps the modules. It never imports ``tldsec.signer``: a
bug shared with the signer would hide itself.
"""
