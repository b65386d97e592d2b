"""The one exception tree of tldsec.

Every error the system raises on purpose is a ``TldsecError``; the CLI turns one into a
single line and a non-zero exit code. A class docstring is its default message.

    TldsecError
    ├── ConfigError                 settings or home directory unusable
    │   └── PolicyError             a policy field is invalid (names the field)
    ├── ZoneError                   an unsigned zone is unusable
    │   ├── ZoneSyntaxError         a zone file does not parse (file, line, reason)
    │   └── ZoneContentError        it parses, but breaks a zone rule (apex, CNAME, ...)
    ├── KeyStoreError               the key store (HSM or key directory) failed
    │   ├── KeyStoreUnavailable     module, token or directory missing
    │   ├── KeyStoreLoginError      wrong PIN or PIN source unreadable
    │   ├── KeyNotFound             no key with that id
    │   └── SigningFailed           the device refused or failed to sign
    ├── SigningError                the signer cannot produce a signed zone
    │   └── NoUsableKey             the signing configuration names no usable key
    ├── VerificationFailed          a signed zone failed the gate (carries the report)
    ├── KeyManagementError          a key operation is refused by the lifecycle rules
    ├── AuditError                  the audit log cannot be written or does not verify
    └── RegistryError               a registry operation is refused
"""

from __future__ import annotations


class TldsecError(Exception):
    """tldsec failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(TldsecError):
    """The configuration or the home directory is unusable."""


class PolicyError(ConfigError):
    """The policy is invalid."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"policy field {field!r}: {reason}")


class ZoneError(TldsecError):
    """The unsigned zone is unusable."""


class ZoneSyntaxError(ZoneError):
    """The zone file does not parse."""

    def __init__(self, filename: str, line: int | None, reason: str) -> None:
        self.filename = filename
        self.line = line
        self.reason = reason
        where = f"{filename}:{line}" if line is not None else filename
        super().__init__(f"{where}: {reason}")


class ZoneContentError(ZoneError):
    """The zone breaks a rule of zone content (RFC 1034, RFC 2181, RFC 4035)."""


class KeyStoreError(TldsecError):
    """The key store failed."""


class KeyStoreUnavailable(KeyStoreError):
    """The key store (PKCS#11 module, token or key directory) is not available."""


class KeyStoreLoginError(KeyStoreError):
    """Login to the key store failed (wrong PIN, or the PIN source cannot be read)."""


class KeyNotFound(KeyStoreError):
    """No key with that id is in the key store."""


class SigningFailed(KeyStoreError):
    """The key store failed to produce a signature."""


class SigningError(TldsecError):
    """The signer cannot produce a signed zone."""


class NoUsableKey(SigningError):
    """The signing configuration names no key that can sign."""


class VerificationFailed(TldsecError):
    """The signed zone failed verification and must not be distributed."""


class KeyManagementError(TldsecError):
    """The key lifecycle rules refuse this key operation."""


class AuditError(TldsecError):
    """The audit log cannot be written or does not verify."""


class RegistryError(TldsecError):
    """The registry refused the operation."""
