"""The signer: unsigned zone + SigningConfig + KeyStore -> signed zone (DPS 6)."""
