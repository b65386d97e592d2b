"""The verifier: independent checks of a signed zone before distribution (DPS 6.6).

It never imports ``tldsec.signer``: a bug shared with the signer would hide itself.
"""
