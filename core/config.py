"""Typed, self-validating configs loaded from YAML with dotted `key=value` overrides.

Every stage declares its config as nested dataclasses. `load_config` reads a YAML
file, applies overrides, and builds the dataclasses; any unknown key or wrong type
raises ConfigError naming the offending key and listing the allowed ones.
Deliberately plain: no interpolation, no includes, no magic.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from core.errors import PipelineError

T = TypeVar("T")


class ConfigError(PipelineError, ValueError):
    """A config file or override is wrong; the message says what to change."""


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` against the annotation `tp`, converting only where lossless."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, tp, where)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: {value!r} is not allowed; "
                              f"allowed values: {', '.join(map(repr, typing.get_args(tp)))}")
        return value
    if origin in (list, tuple, dict):
        return _coerce_container(value, tp, where)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if tp in _SCALARS:
        return _SCALARS[tp](value, where)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _coerce_union(value: Any, tp: Any, where: str) -> Any:
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _coerce(value, arg, where)
        except ConfigError:
            pass  # try the next member; the error below names the whole union
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")


def _coerce_container(value: Any, tp: Any, where: str) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        vt = args[1] if len(args) == 2 else Any
        return {k: _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    inner = args[0] if args else Any
    return [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _to_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected true/false, got {value!r}")


def _to_int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{where}: expected an integer, got {value!r}")


def _to_float(value: Any, where: str) -> float:
    if _is_number(value):
        return float(value)
    if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a number, got {value!r}")


def _to_str(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if _is_number(value):
        return str(value)  # `name=2024` on the command line
    raise ConfigError(f"{where}: expected a string, got {value!r}")


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _build(cls: type[T], data: Any, where: str) -> T:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!s} in {cls.__name__}; allowed keys: {', '.join(sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(value, hints[name], f"{where}.{name}" if where else name)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b=3` -> (["a", "b"], 3). Values are parsed as YAML scalars/lists."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value (e.g. train.lr=1e-4)")
    key, raw = text.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML: {exc}") from None
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = dict(data or {})
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        node[path[-1]] = value
    return data


def _deep_copy(data: dict) -> dict:
    return {k: (_deep_copy(v) if isinstance(v, dict) else v) for k, v in data.items()}


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load `path` (YAML) into dataclass `cls`, then apply `key=value` overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of keys")
    merged = apply_overrides(_deep_copy(data), overrides or [])
    try:
        return _build(cls, merged, "")
    except ConfigError as exc:
        raise ConfigError(f"{_blame(cls, path, data, overrides or [], str(exc))}{exc}") from None


def _blame(cls: type, path: Path | None, file_data: dict, overrides: list[str], message: str) -> str:
    """Which input the error is in: the file when it fails on its own, else the command line
    (a bad `key=value` must not be reported as a fault of the shipped YAML)."""
    if overrides:
        try:
            _build(cls, _deep_copy(file_data), "")
        except ConfigError:
            pass  # the file alone is already wrong
        else:
            head = message.split("; allowed", 1)[0]  # the key lists name every key
            named = [o for o in overrides if re.search(rf"\b{re.escape(o.split('=', 1)[0])}\b", head)]
            named = named or overrides
            shown = " ".join(o if len(o) <= 80 else o[:77] + "..." for o in named[:3])
            return f"command-line override {shown}: "
    return f"{path}: " if path is not None else ""


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def check(cond: bool, message: str) -> None:
    """Validation helper for __post_init__: raise ConfigError (never assert)."""
    if not cond:
        raise ConfigError(message)
