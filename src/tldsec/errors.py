"""The one exception tree of tldsec.

Every error the system raises on purpose is a ``TldsecError``; the CLI turns one into a
single line and the exit code its class carries (``ExitCode``, docs/operations.md). A
class docstring is its default message.

    TldsecError
    ├── ConfigError                 settings or home directory unusable
    │   ├── PolicyError             a policy field is invalid (names the field)
    │   │   └── PolicyViolation     the policy breaks the DPS it names, or itself (lists each)
    │   ├── DatabaseUnavailable     a database cannot be reached (names the URL, no password)
    │   └── ZoneNotNamed            several zones and no --zone (exit code 2, usage)
    ├── CommitOutcomeUnknown        the connection was lost after COMMIT was sent (decision 50)
    ├── ZoneError                   an unsigned zone is unusable
    │   ├── ZoneSyntaxError         a zone file does not parse (file, line, reason)
    │   └── ZoneContentError        it parses, but breaks a zone rule (apex, CNAME, ...)
    ├── FileUnusable                a file named on the command line cannot be read or written
    ├── BadName                     not a valid domain name (also a ValueError; dnscore)
    ├── BadRdata                    RDATA that does not parse for its type (also a ValueError)
    ├── KeyStoreError               the key store (HSM or key directory) failed
    │   ├── KeyStoreUnavailable     module, token or directory missing
    │   ├── KeyStoreLoginError      wrong PIN or PIN source unreadable
    │   │   └── KeyStoreLocked      the HSM awaits its Security Officer's activation
    │   ├── KeyNotFound             no key with that id
    │   └── SigningFailed           the device refused or failed to sign
    ├── SigningError                the signer cannot produce a signed zone
    │   └── NoUsableKey             the signing configuration names no usable key
    ├── VerificationFailed          a signed zone failed the gate (exit code 3, integrity)
    ├── KeyManagementError          a key operation is refused by the lifecycle rules
    │   └── TransferRefused         an operator transfer step is refused (keys/transfer.py)
    ├── AuditError                  the audit log cannot be written or does not verify
    ├── DistributionError           the distribution store or the hidden primary failed
    │   ├── DigestMismatch          a published file differs from its recorded digest
    │   ├── LeaseLost               this signer does not hold the publication lease
    │   └── PushRefused             a primary refused a pushed zone (names why)
    ├── CycleError                  a zone cycle cannot run (another one holds the lock, ...)
    ├── NotifyError                 a notice could not be sent (names the SMTP server)
    │   └── NotifyUnsendable        it never can be as written (a bad address): not retried
    └── RegistryError               a registry operation is refused
        ├── ObjectNotFound          no such domain, host, contact or message
        ├── ObjectExists            the name or id is already registered
        ├── NotSponsor              only the sponsoring registrar may do this
        ├── NotAccredited           the registrar is not accredited for the name's zone
        ├── AuthenticationFailed    wrong registrar credentials or certificate
        ├── InvalidAuthInfo         wrong authInfo for the object
        ├── StatusProhibits         a status of the object forbids the operation
        ├── AssociationProhibits    the object is in use by another object
        ├── TransferPending         a transfer is already pending
        ├── NoTransferPending       there is no pending transfer to act on
        ├── NotEligible             the object cannot be renewed or transferred now
        ├── InvalidValue            a value is malformed
        ├── ValueOutOfRange         a value is outside its range
        ├── PolicyRefused           a well-formed value is refused by registry policy
        │   └── NameReserved        the name is reserved (ICANN RA Specification 5)
        ├── LimitExceeded           the change would break a data limit of the policy
        └── DsRejected              DS data break the DS rules (carries the violations)
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar


class ExitCode(IntEnum):
    """The exit status of every ``tldsec`` command (docs/operations.md, "Exit codes")."""

    OK = 0  # done, or nothing wrong
    FAILED = 1  # the command failed, or (status) something is degraded
    USAGE = 2  # the command line is wrong (argparse)
    INTEGRITY = 3  # what was checked is not intact: a zone refused, the audit log broken
    NEEDED = 4  # waiting or needed: a check found work to do (cycle --check)


class TldsecError(Exception):
    """tldsec failed."""

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(TldsecError):
    """The configuration or the home directory is unusable."""


class ZoneNotNamed(ConfigError):
    """This home serves several zones: name one with --zone (decision 57)."""

    exit_code: ClassVar[ExitCode] = ExitCode.USAGE


class PolicyError(ConfigError):
    """The policy is invalid."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"policy field {field!r}: {reason}")


class PolicyViolation(PolicyError):
    """The policy breaks the DPS it names, or contradicts itself."""

    def __init__(self, source: str, findings: list[str], *, breaks_dps: bool) -> None:
        self.findings = tuple(findings)
        self.field = findings[0].split(" = ", 1)[0] if findings else "<policy>"
        self.reason = (
            f"policy {source} is refused, {len(findings)} value(s) break a rule: "
            + "; ".join(findings)
            + ". Correct the file ('tldsec policy check' lists each value)"
            + (
                ", or name the policy other than 'dps' to deviate from the DPS"
                if breaks_dps
                else ""
            )
        )
        TldsecError.__init__(self, self.reason)


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


class FileUnusable(TldsecError):
    """A file or directory named on the command line cannot be read or written."""


class BadName(TldsecError, ValueError):
    """A name is not a valid domain name."""


class BadRdata(TldsecError, ValueError):
    """RDATA does not parse for its type."""


class DatabaseUnavailable(ConfigError):
    """A database the home names cannot be reached."""

    def __init__(self, message: str | None = None, *, reason: str = "") -> None:
        self.reason = reason  # the driver's words, on one line
        super().__init__(message)


class CommitOutcomeUnknown(TldsecError):
    """The database connection was lost after COMMIT was sent: the transaction may have
    committed or not (a primary killed, a failover); only the database, asked again
    through a new connection, can tell."""


class KeyStoreError(TldsecError):
    """The key store failed."""


class KeyStoreUnavailable(KeyStoreError):
    """The key store (PKCS#11 module, token or key directory) is not available."""


class KeyStoreLoginError(KeyStoreError):
    """Login to the key store failed (wrong PIN, or the PIN source cannot be read)."""


class KeyStoreLocked(KeyStoreLoginError):
    """The HSM is locked: its PIN is held by the Security Officer, who activates it
    (``tldsec hsm activate``, DPS 4.2.4, 5.2.8)."""


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

    exit_code = ExitCode.INTEGRITY


class KeyManagementError(TldsecError):
    """The key lifecycle rules refuse this key operation."""


class TransferRefused(KeyManagementError):
    """The operator transfer cannot take this step (DPS 4.6, keys/transfer.py)."""


class CeremonyRefused(TldsecError):
    """A ceremony's approvals do not authorise the operation (DPS 5.1, 5.2.2)."""


class AuditError(TldsecError):
    """The audit log cannot be written or does not verify."""


class DistributionError(TldsecError):
    """The distribution store or the hidden primary failed."""


class DigestMismatch(DistributionError):
    """A published file is not the bytes its digest record says were verified."""


class LeaseLost(DistributionError):
    """This signer does not hold the publication lease: another signer publishes."""


class PushRefused(DistributionError):
    """A primary refused a pushed zone."""

    def __init__(self, message: str | None = None, reason: str = "refused") -> None:
        self.reason = reason  # a word for the audit log: token, serial, sha256, ...
        super().__init__(message)


class CycleError(TldsecError):
    """The zone cycle cannot run."""


class NotifyError(TldsecError):
    """A notice could not be sent by e-mail."""


class NotifyUnsendable(NotifyError):
    """A notice can never be sent as written (an address with a line break): not retried."""


class RegistryError(TldsecError):
    """The registry refused the operation."""


class ObjectNotFound(RegistryError):
    """The object does not exist."""


class ObjectExists(RegistryError):
    """The object already exists."""


class NotSponsor(RegistryError):
    """Only the sponsoring registrar may act on this object (DPS 3.2, 3.5.3)."""


class NotAccredited(RegistryError):
    """The registrar is not accredited for this zone (decision 57: EPP 2201)."""


class AuthenticationFailed(RegistryError):
    """The registrar's credentials or client certificate were not accepted."""


class InvalidAuthInfo(RegistryError):
    """The authorization information for the object is wrong."""


class StatusProhibits(RegistryError):
    """A status of the object prohibits the operation."""


class AssociationProhibits(RegistryError):
    """The object is associated with another object and cannot be changed so."""


class TransferPending(RegistryError):
    """A transfer of the object is already pending."""


class NoTransferPending(RegistryError):
    """The object has no pending transfer."""


class NotEligible(RegistryError):
    """The object is not eligible for this operation now."""


class InvalidValue(RegistryError):
    """A value is malformed."""


class ValueOutOfRange(RegistryError):
    """A value is outside its allowed range."""


class PolicyRefused(RegistryError):
    """A well-formed value is refused by the registry policy."""


class NameReserved(PolicyRefused):
    """The name is reserved by the registry and cannot be registered."""


class LimitExceeded(RegistryError):
    """The change would exceed a data limit of the registry policy."""


class DsRejected(RegistryError):
    """The DS data break the registry's DS rules (DPS 3.3); ``violations`` lists each."""

    def __init__(self, violations: tuple[object, ...], message: str | None = None) -> None:
        self.violations = violations
        super().__init__(message or "; ".join(str(v) for v in violations) or None)
