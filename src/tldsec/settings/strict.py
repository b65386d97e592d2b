"""Strict reading of TOML tables into frozen dataclasses: the dataclass is the schema.

Each field of a table's dataclass is one key of the table. Its annotation is the TOML
type the key takes and its default applies when the key is absent (a field without a
default is a required key). ``setting()`` adds a range or a list of choices::

    @dataclass(frozen=True, slots=True)
    class ServeTable:
        health_listen: str = "127.0.0.1:8053"
        audit_watch_seconds: float = setting(10.0, above=0)

Annotations understood: ``bool`` (a TOML boolean only: ``"false"`` is refused),
``int`` (not a boolean), ``float`` (an integer or a float), ``str``, ``tuple[T, ...]``
(a TOML array), ``dict[str, T]`` (a table of values or sub-tables), another table
dataclass (a sub-table), and unions such as ``int | str`` or ``T | None`` (``None``:
the key may be left out). A key the dataclass does not name is an error that names
the file, the table and the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from tldsec.errors import ConfigError

T = TypeVar("T")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    choices: Iterable[str] | None = None,
    nonempty: bool = False,
) -> Any:
    """A field with a default and a range (``low <= v <= high``, ``v > above``), a list
    of choices, or (``nonempty``) a string or array that may not be empty."""
    metadata = {
        "nonempty": nonempty,
        "low": low,
        "high": high,
        "above": above,
        "choices": None if choices is None else tuple(choices),
    }
    return dataclasses.field(default=default, metadata=metadata)


def nearest(word: str, known: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def refuse_unknown(
    raw: Mapping[str, Any], known: Iterable[str], *, table: str, source: str
) -> None:
    """Raise for the first key of ``raw`` not in ``known``, suggesting the nearest one."""
    names = set(known)
    for key in sorted(set(raw) - names):
        where = f"in [{table}] of {source}" if table else f"at the top of {source}"
        what = "key" if table else "table"
        raise ConfigError(f"unknown {what} {key!r} {where}{nearest(key, names)}")


def read_table(cls: type[T], raw: Any, *, table: str, source: str) -> T:
    """Check ``raw`` (a parsed TOML table) against the dataclass ``cls`` and build it."""
    if not isinstance(raw, dict):
        raise ConfigError(f"[{table}] in {source} must be a table, not {_shown(raw)}")
    fields = [f for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
    refuse_unknown(raw, (f.name for f in fields), table=table, source=source)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                what = f"[{table}] {f.name}" if table else f"the [{f.name}] table"
                raise ConfigError(f"{what} is missing in {source}")
            continue
        where = _Where(table, f.name, source)
        values[f.name] = _check_range(_convert(hints[f.name], raw[f.name], where), f, where)
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"[{table}] in {source}: {exc}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class _Where:
    table: str
    key: str
    source: str

    def error(self, expected: str, value: Any) -> ConfigError:
        table, key = self.table, self.key
        if not table:  # a value of a top-level table of values: [policies] NAME
            table, _, key = key.partition(".")
        what = f"[{table}] {key}" if key else f"[{table}]"
        return ConfigError(f"{what} in {self.source} must be {expected}, not {_shown(value)}")

    def inner(self, suffix: str) -> _Where:
        return _Where(self.table, f"{self.key}{suffix}", self.source)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array" if value else "an empty array"
    return f"{value!r} ({_toml_type(value)})"


def _toml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is bool:
        return "true or false (a TOML boolean, without quotes)"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is str:
        return "a string"
    if origin is tuple:
        return f"an array of {_plural(typing.get_args(hint)[0])}"
    if origin is dict or dataclasses.is_dataclass(hint):
        return "a table"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))
    return str(hint)


def _plural(hint: Any) -> str:
    names = {bool: "booleans", int: "integers", float: "numbers", str: "strings"}
    return names.get(hint, "tables" if dataclasses.is_dataclass(hint) else "values")


def _same_shape(hint: Any, value: Any) -> bool:
    """Whether ``value`` is the TOML kind ``hint`` takes (before its items are checked)."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        return isinstance(value, list)
    if origin is dict or dataclasses.is_dataclass(hint):
        return isinstance(value, dict)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return hint is str and isinstance(value, str)


def _convert(hint: Any, value: Any, where: _Where) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        for option in options:
            if _same_shape(option, value):  # its error is the one that says what is wrong
                return _convert(option, value, where)
        raise where.error(_describe(hint), value)
    if hint is bool:
        if not isinstance(value, bool):
            raise where.error(_describe(hint), value)
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise where.error(_describe(hint), value)
        return value
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise where.error(_describe(hint), value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise where.error(_describe(hint), value)
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise where.error(_describe(hint), value)
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v, where.inner(f"[{i}]")) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise where.error(_describe(hint), value)
        item = typing.get_args(hint)[1]
        return {str(k): _convert(item, v, where.inner(f".{k}")) for k, v in value.items()}
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        name = f"{where.table}.{where.key}" if where.table else where.key
        return read_table(hint, value, table=name, source=where.source)
    raise TypeError(f"settings.strict cannot read {hint!r}")  # a schema bug, not a user's


def _check_range(value: Any, f: dataclasses.Field[Any], where: _Where) -> Any:
    meta = f.metadata
    if isinstance(value, int | float) and not isinstance(value, bool):
        low, high, above = meta.get("low"), meta.get("high"), meta.get("above")
        if low is not None and value < low:
            raise where.error(f"at least {low}", value)
        if high is not None and value > high:
            raise where.error(f"at most {high}", value)
        if above is not None and value <= above:
            raise where.error(f"above {above}", value)
    if meta.get("nonempty") and isinstance(value, str | tuple) and not value:
        raise where.error("not empty", value)
    choices = meta.get("choices")
    if choices is not None and isinstance(value, str) and value not in choices:
        raise where.error(f"one of {', '.join(map(repr, choices))}", value)
    return value
