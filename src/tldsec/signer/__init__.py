"""The signer: unsigned zone + SigningConfig + KeyStore -> signed zone (DPS 6).

``sign_zone`` is the entry point; ``structure`` classifies names, ``rrsig`` builds
signatures, ``reuse`` decides keep-or-resign, ``workers`` signs on every core.
"""

from tldsec.signer.sign import SignResult, SignStats, sign_zone

__all__ = ["SignResult", "SignStats", "sign_zone"]
