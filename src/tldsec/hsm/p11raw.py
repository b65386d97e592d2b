"""C_CreateObject with a template python-pkcs11 cannot express: array attributes.

python-pkcs11 (0.10) packs no CK_ATTRIBUTE arrays, but the Storage Master Key needs one:
its CKA_UNWRAP_TEMPLATE (PKCS#11 v2.40 4.10) forces the attributes of every key unwrapped
under it, so that a holder of the user PIN cannot unwrap an archived key as
non-sensitive and read it. This module builds the template with ctypes and calls the
module's own ``C_CreateObject`` on a session python-pkcs11 opened (the same library
handle: ``dlopen`` returns the loaded one), as ``hsm/softhsm.py`` does for C_InitToken.
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pkcs11

from tldsec.hsm.p11errors import Where, translate

# A template value: a CK_BBOOL, a CK_ULONG, a byte string, or a nested template.
Value = bool | int | bytes | Mapping[int, Any]


class _Attribute(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_ulong),
        ("value", ctypes.c_void_p),
        ("length", ctypes.c_ulong),
    ]


class _Template:
    """A CK_ATTRIBUTE array and the buffers it points into (kept alive with it)."""

    def __init__(self, values: Mapping[int, Value]) -> None:
        self._buffers: list[Any] = []
        self.array = (_Attribute * len(values))()
        for slot, (kind, value) in zip(self.array, values.items(), strict=True):
            slot.type = int(kind)
            buffer, length = self._encode(value)
            self._buffers.append(buffer)
            slot.value = ctypes.cast(buffer, ctypes.c_void_p)
            slot.length = length

    def _encode(self, value: Value) -> tuple[Any, int]:
        if isinstance(value, bool):
            return ctypes.create_string_buffer(bytes([value]), 1), 1
        if isinstance(value, int):
            number = ctypes.c_ulong(value)
            return ctypes.pointer(number), ctypes.sizeof(number)
        if isinstance(value, bytes):
            return ctypes.create_string_buffer(value, len(value)), len(value)
        nested = _Template(value)
        self._buffers.append(nested)
        return nested.array, ctypes.sizeof(nested.array)

    def __len__(self) -> int:
        return len(self.array)


def create_object(module: Path, session: Any, template: Mapping[int, Value], where: Where) -> int:
    """C_CreateObject in ``session`` (a python-pkcs11 session); the new object's handle."""
    raw = _Template(template)
    handle = ctypes.c_ulong()
    function = ctypes.CDLL(str(module)).C_CreateObject
    function.argtypes = [
        ctypes.c_ulong,
        ctypes.POINTER(_Attribute),
        ctypes.c_ulong,
        ctypes.POINTER(ctypes.c_ulong),
    ]
    function.restype = ctypes.c_ulong
    rv = function(session.handle, raw.array, len(raw), ctypes.byref(handle))
    if rv != 0:
        exc_class = pkcs11.exceptions.__dict__.get(_ERROR_NAMES.get(rv, ""), pkcs11.PKCS11Error)
        raise translate(exc_class(f"CKR 0x{rv:08x}"), where)
    return handle.value


# The CKR_* values C_CreateObject returns for a template problem, by python-pkcs11 name.
_ERROR_NAMES = {
    0x05: "GeneralError",
    0x10: "AttributeReadOnly",
    0x12: "AttributeTypeInvalid",
    0x13: "AttributeValueInvalid",
    0x101: "UserNotLoggedIn",
    0xD0: "TemplateIncomplete",
    0xD1: "TemplateInconsistent",
    0xB5: "SessionReadOnly",
}
