"""EPP result codes live on the error classes (STYLE 6): one class per code, never set
on an instance, and each registry refusal translated to the class of its code."""

from __future__ import annotations

import pytest

from tldsec import errors as reg
from tldsec.epp import errors
from tldsec.epp.errors import ERROR_FOR_CODE, EppError, ResultCode


def test_each_result_code_has_one_class() -> None:
    classes = EppError.__subclasses__()
    codes = [cls.code for cls in classes]
    assert len(codes) == len(set(codes)), "two EPP error classes share a result code"
    assert set(ERROR_FOR_CODE.values()) == set(classes)
    for cls in classes:
        assert cls.__doc__ == cls.code.text + ".", cls  # the docstring is its default message
        assert str(cls()) == cls.code.text


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (reg.ObjectNotFound("no such domain"), ResultCode.OBJECT_DOES_NOT_EXIST),
        (reg.NameReserved("reserved"), ResultCode.PARAMETER_VALUE_POLICY_ERROR),
        (reg.InvalidAuthInfo("wrong"), ResultCode.INVALID_AUTHORIZATION_INFO),
        (reg.LimitExceeded("too many"), ResultCode.DATA_MANAGEMENT_POLICY_VIOLATION),
        (reg.DsRejected((), "no DS"), ResultCode.PARAMETER_VALUE_POLICY_ERROR),
        (reg.RegistryError("other"), ResultCode.COMMAND_FAILED),
    ],
)
def test_a_registry_refusal_becomes_the_class_of_its_code(
    refusal: reg.RegistryError, code: ResultCode
) -> None:
    error = errors.from_registry_error(refusal)
    assert type(error).code is code
    assert "code" not in vars(error)  # on the class, not the instance
    assert str(error) == str(refusal)


def test_every_mapped_code_has_its_class() -> None:
    mapped = {*errors._REGISTRY_CODES.values(), *errors.DS_RULE_CODES.values()}
    assert mapped <= ERROR_FOR_CODE.keys()
