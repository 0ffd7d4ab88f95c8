"""Domain values to and from JSON (Decimals as exact strings), as stored and as sent between processes.

Decoding is driven by the dataclasses' own type hints, so a field added to a domain type is
stored and read back without touching this module; a field missing from an older stored document
takes the dataclass default.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from functools import cache, lru_cache
from types import MappingProxyType
from typing import Any, TypeVar, Union

import orjson

T = TypeVar("T")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _omitting_empty(value: Any) -> Any:
    """A dataclass instance whose class lists fields in `__json_omit_empty__` as a dict of its
    fields without those that are empty; any other value as it is. A field added to a stored type
    this way leaves the documents that do not use it byte for byte as they were (an invoice's
    `annex`: a digest of an invoice queued before it existed still matches). Top level only."""
    omit = getattr(type(value), "__json_omit_empty__", None)
    if not omit:
        return value
    fields = {name: getattr(value, name) for name in _field_names(type(value))}
    for name in omit:
        if not fields[name]:
            del fields[name]
    return fields


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for any domain value (dataclasses, Decimals as exact strings, enums, dates)."""
    if value is None or isinstance(value, str | int | bool):
        return value
    return orjson.loads(orjson.dumps(_omitting_empty(value), default=_default, option=orjson.OPT_NON_STR_KEYS))


def to_json_bytes(value: Any, sort_keys: bool = False) -> bytes:
    """`value` as the JSON text of `to_json_fragment`."""
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_SORT_KEYS if sort_keys else 0)
    return orjson.dumps(_omitting_empty(value), default=_default, option=option)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@lru_cache(maxsize=256)
def _shared_fragment(value: Any) -> orjson.Fragment:
    return orjson.Fragment(to_json_bytes(value))


def to_json_bytes_sharing(value: Any, shared: tuple[str, ...]) -> bytes:
    """`to_json_bytes` of a dataclass instance, byte for byte, whose `shared` fields hold immutable
    (hashable) values that many instances share, each serialised once and reused: an invoice
    draft's seller is one of a few selling entities, and was a third of every draft's cost."""
    fields = {name: getattr(value, name) for name in _field_names(type(value))}
    for name in shared:
        fields[name] = _shared_fragment(fields[name])
    for name in getattr(type(value), "__json_omit_empty__", ()):
        if not fields[name]:
            del fields[name]
    return to_json_bytes(fields)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(tp: Any, value: Any) -> Any:
    """The value of type `tp` that `to_jsonable` turned into `value`."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if value is None else from_jsonable(args[0], value)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(from_jsonable(item, v) for v in value)
    if origin in (dict, typing.Mapping, list) or tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = _hints(tp)
        kwargs = {
            f.name: from_jsonable(hints[f.name], value[f.name]) for f in dataclasses.fields(tp) if f.name in value
        }
        return tp(**kwargs)
    if tp is Decimal:
        return Decimal(value)
    if tp is date:
        return date.fromisoformat(value)
    if tp is datetime:
        return datetime.fromisoformat(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    return value


def load_json(tp: type[T], doc: Any) -> T:
    """The `tp` that `to_jsonable` (or `to_json_bytes`, parsed) turned into `doc`."""
    value: T = from_jsonable(tp, doc)
    return value
