"""EPP result codes (RFC 5730 3) on the error classes, and the one translation of
registry refusals into them.

A command either returns a success ``Reply`` or raises an ``EppError``; the dispatcher
turns the error into a response carrying ``code`` and the error's message (the reason a
registrar reads). Registry services raise ``RegistryError`` subclasses that know nothing
of EPP: ``from_registry_error`` maps each to its code here, in one place.
"""

from __future__ import annotations

from enum import IntEnum

from tldsec import errors as reg
from tldsec.errors import TldsecError
from tldsec.registry.ds_rules import DsData, Rule, Violation


class ResultCode(IntEnum):
    """RFC 5730 3 result codes, each with its standard text."""

    SUCCESS = 1000
    SUCCESS_PENDING = 1001
    SUCCESS_NO_MESSAGES = 1300
    SUCCESS_ACK_TO_DEQUEUE = 1301
    SUCCESS_ENDING_SESSION = 1500
    UNKNOWN_COMMAND = 2000
    COMMAND_SYNTAX_ERROR = 2001
    COMMAND_USE_ERROR = 2002
    REQUIRED_PARAMETER_MISSING = 2003
    PARAMETER_VALUE_RANGE_ERROR = 2004
    PARAMETER_VALUE_SYNTAX_ERROR = 2005
    UNIMPLEMENTED_PROTOCOL_VERSION = 2100
    UNIMPLEMENTED_COMMAND = 2101
    UNIMPLEMENTED_OPTION = 2102
    UNIMPLEMENTED_EXTENSION = 2103
    BILLING_FAILURE = 2104
    NOT_ELIGIBLE_FOR_RENEWAL = 2105
    NOT_ELIGIBLE_FOR_TRANSFER = 2106
    AUTHENTICATION_ERROR = 2200
    AUTHORIZATION_ERROR = 2201
    INVALID_AUTHORIZATION_INFO = 2202
    OBJECT_PENDING_TRANSFER = 2300
    OBJECT_NOT_PENDING_TRANSFER = 2301
    OBJECT_EXISTS = 2302
    OBJECT_DOES_NOT_EXIST = 2303
    OBJECT_STATUS_PROHIBITS_OPERATION = 2304
    OBJECT_ASSOCIATION_PROHIBITS_OPERATION = 2305
    PARAMETER_VALUE_POLICY_ERROR = 2306
    UNIMPLEMENTED_OBJECT_SERVICE = 2307
    DATA_MANAGEMENT_POLICY_VIOLATION = 2308
    COMMAND_FAILED = 2400
    COMMAND_FAILED_CLOSING = 2500
    AUTHENTICATION_ERROR_CLOSING = 2501
    SESSION_LIMIT_EXCEEDED_CLOSING = 2502

    @property
    def text(self) -> str:
        return _TEXT[self]

    @property
    def closes_session(self) -> bool:
        """RFC 5730 3: 2500, 2501, 2502 end the session; so does a 1500 logout."""
        return self in (1500, 2500, 2501, 2502)


_TEXT = {
    1000: "Command completed successfully",
    1001: "Command completed successfully; action pending",
    1300: "Command completed successfully; no messages",
    1301: "Command completed successfully; ack to dequeue",
    1500: "Command completed successfully; ending session",
    2000: "Unknown command",
    2001: "Command syntax error",
    2002: "Command use error",
    2003: "Required parameter missing",
    2004: "Parameter value range error",
    2005: "Parameter value syntax error",
    2100: "Unimplemented protocol version",
    2101: "Unimplemented command",
    2102: "Unimplemented option",
    2103: "Unimplemented extension",
    2104: "Billing failure",
    2105: "Object is not eligible for renewal",
    2106: "Object is not eligible for transfer",
    2200: "Authentication error",
    2201: "Authorization error",
    2202: "Invalid authorization information",
    2300: "Object pending transfer",
    2301: "Object not pending transfer",
    2302: "Object exists",
    2303: "Object does not exist",
    2304: "Object status prohibits operation",
    2305: "Object association prohibits operation",
    2306: "Parameter value policy error",
    2307: "Unimplemented object service",
    2308: "Data management policy violation",
    2400: "Command failed",
    2500: "Command failed; server closing connection",
    2501: "Authentication error; server closing connection",
    2502: "Session limit exceeded; server closing connection",
}


class EppError(TldsecError):
    """An EPP command failed; ``code`` is its RFC 5730 result code."""

    code: ResultCode = ResultCode.COMMAND_FAILED

    def __init__(
        self, message: str | None = None, *, ds_values: tuple[tuple[DsData, str], ...] = ()
    ) -> None:
        super().__init__(message or self.code.text)
        # (DS, reason) pairs the response carries as <extValue> (RFC 5730 2.6).
        self.ds_values = ds_values
        self.logged = False  # already written to the EPP transaction log


# One class per result code a command can fail with (Nomulus's pattern).
class UnknownCommand(EppError):
    """Unknown command."""

    code = ResultCode.UNKNOWN_COMMAND


class CommandSyntaxError(EppError):
    """Command syntax error."""

    code = ResultCode.COMMAND_SYNTAX_ERROR


class CommandUseError(EppError):
    """Command use error."""

    code = ResultCode.COMMAND_USE_ERROR


class RequiredParameterMissing(EppError):
    """Required parameter missing."""

    code = ResultCode.REQUIRED_PARAMETER_MISSING


class ParameterValueRangeError(EppError):
    """Parameter value range error."""

    code = ResultCode.PARAMETER_VALUE_RANGE_ERROR


class ParameterValueSyntaxError(EppError):
    """Parameter value syntax error."""

    code = ResultCode.PARAMETER_VALUE_SYNTAX_ERROR


class UnimplementedProtocolVersion(EppError):
    """Unimplemented protocol version."""

    code = ResultCode.UNIMPLEMENTED_PROTOCOL_VERSION


class UnimplementedCommand(EppError):
    """Unimplemented command."""

    code = ResultCode.UNIMPLEMENTED_COMMAND


class UnimplementedOption(EppError):
    """Unimplemented option."""

    code = ResultCode.UNIMPLEMENTED_OPTION


class UnimplementedExtension(EppError):
    """Unimplemented extension."""

    code = ResultCode.UNIMPLEMENTED_EXTENSION


class AuthenticationError(EppError):
    """Authentication error."""

    code = ResultCode.AUTHENTICATION_ERROR


class AuthorizationError(EppError):
    """Authorization error."""

    code = ResultCode.AUTHORIZATION_ERROR


class NotEligibleForRenewal(EppError):
    """Object is not eligible for renewal."""

    code = ResultCode.NOT_ELIGIBLE_FOR_RENEWAL


class NotEligibleForTransfer(EppError):
    """Object is not eligible for transfer."""

    code = ResultCode.NOT_ELIGIBLE_FOR_TRANSFER


class InvalidAuthorizationInfo(EppError):
    """Invalid authorization information."""

    code = ResultCode.INVALID_AUTHORIZATION_INFO


class ObjectPendingTransfer(EppError):
    """Object pending transfer."""

    code = ResultCode.OBJECT_PENDING_TRANSFER


class ObjectNotPendingTransfer(EppError):
    """Object not pending transfer."""

    code = ResultCode.OBJECT_NOT_PENDING_TRANSFER


class ObjectExistsError(EppError):
    """Object exists."""

    code = ResultCode.OBJECT_EXISTS


class ObjectDoesNotExist(EppError):
    """Object does not exist."""

    code = ResultCode.OBJECT_DOES_NOT_EXIST


class ObjectStatusProhibitsOperation(EppError):
    """Object status prohibits operation."""

    code = ResultCode.OBJECT_STATUS_PROHIBITS_OPERATION


class ObjectAssociationProhibitsOperation(EppError):
    """Object association prohibits operation."""

    code = ResultCode.OBJECT_ASSOCIATION_PROHIBITS_OPERATION


class ParameterValuePolicyError(EppError):
    """Parameter value policy error."""

    code = ResultCode.PARAMETER_VALUE_POLICY_ERROR


class DataManagementPolicyViolation(EppError):
    """Data management policy violation."""

    code = ResultCode.DATA_MANAGEMENT_POLICY_VIOLATION


class UnimplementedObjectService(EppError):
    """Unimplemented object service."""

    code = ResultCode.UNIMPLEMENTED_OBJECT_SERVICE


class CommandFailed(EppError):
    """Command failed."""

    code = ResultCode.COMMAND_FAILED


class CommandFailedClosing(EppError):
    """Command failed; server closing connection."""

    code = ResultCode.COMMAND_FAILED_CLOSING


class AuthenticationErrorClosing(EppError):
    """Authentication error; server closing connection."""

    code = ResultCode.AUTHENTICATION_ERROR_CLOSING


class SessionLimitExceeded(EppError):
    """Session limit exceeded; server closing connection."""

    code = ResultCode.SESSION_LIMIT_EXCEEDED_CLOSING


# The one error class for each result code (RFC 5730 3), the code on the class.
ERROR_FOR_CODE: dict[ResultCode, type[EppError]] = {
    cls.code: cls for cls in EppError.__subclasses__()
}

_REGISTRY_CODES: dict[type[reg.RegistryError], ResultCode] = {
    reg.ObjectNotFound: ResultCode.OBJECT_DOES_NOT_EXIST,
    reg.ObjectExists: ResultCode.OBJECT_EXISTS,
    reg.NotSponsor: ResultCode.AUTHORIZATION_ERROR,
    reg.NotAccredited: ResultCode.AUTHORIZATION_ERROR,
    reg.AuthenticationFailed: ResultCode.AUTHENTICATION_ERROR,
    reg.InvalidAuthInfo: ResultCode.INVALID_AUTHORIZATION_INFO,
    reg.StatusProhibits: ResultCode.OBJECT_STATUS_PROHIBITS_OPERATION,
    reg.AssociationProhibits: ResultCode.OBJECT_ASSOCIATION_PROHIBITS_OPERATION,
    reg.TransferPending: ResultCode.OBJECT_PENDING_TRANSFER,
    reg.NoTransferPending: ResultCode.OBJECT_NOT_PENDING_TRANSFER,
    reg.NotEligible: ResultCode.NOT_ELIGIBLE_FOR_TRANSFER,
    reg.InvalidValue: ResultCode.PARAMETER_VALUE_SYNTAX_ERROR,
    reg.ValueOutOfRange: ResultCode.PARAMETER_VALUE_RANGE_ERROR,
    reg.PolicyRefused: ResultCode.PARAMETER_VALUE_POLICY_ERROR,
    reg.LimitExceeded: ResultCode.DATA_MANAGEMENT_POLICY_VIOLATION,
}

# Each DS rule's code: malformed values are syntax (2005) errors; numbers the IANA
# registries do not assign are range (2004) errors; assigned values the policy refuses
# are 2306; too many records for one domain is a data management
# policy violation (2308).
DS_RULE_CODES: dict[Rule, ResultCode] = {
    Rule.KEY_TAG_RANGE: ResultCode.PARAMETER_VALUE_RANGE_ERROR,
    Rule.ALGORITHM_UNASSIGNED: ResultCode.PARAMETER_VALUE_RANGE_ERROR,
    Rule.ALGORITHM_NOT_ALLOWED: ResultCode.PARAMETER_VALUE_POLICY_ERROR,
    Rule.DIGEST_TYPE_UNASSIGNED: ResultCode.PARAMETER_VALUE_RANGE_ERROR,
    Rule.DIGEST_TYPE_NOT_ALLOWED: ResultCode.PARAMETER_VALUE_POLICY_ERROR,
    Rule.DIGEST_NOT_HEX: ResultCode.PARAMETER_VALUE_SYNTAX_ERROR,
    Rule.DIGEST_LENGTH: ResultCode.PARAMETER_VALUE_SYNTAX_ERROR,
    Rule.DUPLICATE: ResultCode.PARAMETER_VALUE_POLICY_ERROR,
    Rule.NOT_PRESENT: ResultCode.PARAMETER_VALUE_POLICY_ERROR,
    Rule.TOO_MANY: ResultCode.DATA_MANAGEMENT_POLICY_VIOLATION,
}

_DS_PRECEDENCE = [
    ResultCode.PARAMETER_VALUE_SYNTAX_ERROR,
    ResultCode.PARAMETER_VALUE_RANGE_ERROR,
    ResultCode.PARAMETER_VALUE_POLICY_ERROR,
    ResultCode.DATA_MANAGEMENT_POLICY_VIOLATION,
]


def from_registry_error(exc: reg.RegistryError) -> EppError:
    """The EPP error for a registry refusal; DS refusals name every violation."""
    if isinstance(exc, reg.DsRejected):
        violations = [v for v in exc.violations if isinstance(v, Violation)]
        # The most basic fault decides the code: malformed, then out of range, then policy.
        codes = sorted((DS_RULE_CODES[v.rule] for v in violations), key=_DS_PRECEDENCE.index)
        code = codes[0] if codes else ResultCode.PARAMETER_VALUE_POLICY_ERROR
        message = "; ".join(v.message for v in violations) or str(exc)
        values = tuple((v.ds, v.message) for v in violations if v.ds is not None)
        return ERROR_FOR_CODE[code](message, ds_values=values)
    for cls in type(exc).__mro__:
        mapped = _REGISTRY_CODES.get(cls)
        if mapped is not None:
            return ERROR_FOR_CODE[mapped](str(exc))
    return CommandFailed(str(exc))
