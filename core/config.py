"""Typed, self-validating configs loaded from YAML with dotted `key=value` overrides.

Every stage declares its config as nested dataclasses. `load_config` reads a YAML
file, applies overrides, and builds the dataclasses; any unknown key or wrong type
raises ConfigError naming the offending key and listing the allowed ones.
Deliberately plain: no interpolation, no includes, no magic.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from core.errors import PipelineError
from core.files import not_a_regular_file

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
    members = [arg for arg in args if arg is not type(None)]
    for arg in members:
        try:
            return _coerce(value, arg, where)
        except ConfigError as exc:
            if len(members) == 1:  # `float | None`: the member's own reason (e.g. not finite)
                raise exc from None
            # else try the next member; the error below names the whole union
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


INT_RANGE = (-(2**63), 2**63)   # what torch, numpy and the C++ runner can hold
SEED_RANGE = (0, 2**32)         # every RNG the stages seed (numpy's is the narrowest)


def _to_int(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = SEED_RANGE if where.rsplit(".", 1)[-1] == "seed" else INT_RANGE
        if not low <= value < high:
            shown = str(value) if len(str(value)) <= 24 else f"{str(value)[:20]}..."
            raise ConfigError(f"{where}: {shown} is out of range (a {'seed' if high == 2**32 else 'count'} "
                              f"must be in [{low}, {high}))")
        return value
    raise ConfigError(f"{where}: expected an integer, got {value!r}")


def _to_float(value: Any, where: str) -> float:
    out = None
    if _is_number(value):
        try:
            out = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise ConfigError(f"{where}: {str(value)[:20]}... is too large for a number") from None
    elif isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
        try:
            out = float(value)
        except ValueError:
            pass
    if out is None:
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if not math.isfinite(out):  # .inf, nan, 1e999: every later check and the run itself would misbehave
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return out


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
    unknown = sorted(set(data) - set(fields), key=str)  # YAML keys may be numbers or null
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


MAX_CONFIG_BYTES = 16 << 20  # a config is a few KiB; anything this large is the wrong file


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the last silently)
    and aliases (`*name`: no config needs them, and nested ones expand exponentially)."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor}: anchors and aliases are "
                                              "not supported in configs", event.start_mark)
        return super().compose_node(parent, index)


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(None, None, f"unhashable key {key!r}",
                                                    key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} appears twice in one mapping (first at line {seen[key]})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def _read_yaml(path: Path) -> Any:
    why = not_a_regular_file(path)
    if why == "not found":
        raise ConfigError(f"config file not found: {path}")
    if why:
        raise ConfigError(f"config file {path}: {why}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file {path}: {path.stat().st_size >> 20} MiB is not a config "
                          f"(at most {MAX_CONFIG_BYTES >> 20} MiB)")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not UTF-8 text (byte {exc.start})") from None
    if not raw:  # a file cut to nothing would run on every default without a word
        raise ConfigError(f"config file {path}: empty (0 bytes); a config with every default is "
                          "`{}` or a comment")
    if "\x00" in text:
        raise ConfigError(f"config file {path}: holds NUL bytes: not a YAML text file")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load `path` (YAML) into dataclass `cls`, then apply `key=value` overrides."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        data = _read_yaml(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            kind = {str: "a string", list: "a list"}.get(type(data), f"a {type(data).__name__}")
            raise ConfigError(f"{path}: top level must be a mapping of keys, not {kind}")
    merged = apply_overrides(_deep_copy(data), overrides or [])
    try:
        return _build(cls, merged, "")
    except ConfigError as exc:
        raise ConfigError(f"{_blame(cls, path, data, overrides or [], str(exc))}{exc}") from None


def _fails(cls: type, data: dict) -> str | None:
    """The error `data` builds into, or None when it builds."""
    try:
        _build(cls, _deep_copy(data), "")
    except ConfigError as exc:
        return str(exc)
    return None


def _blame(cls: type, path: Path | None, file_data: dict, overrides: list[str], message: str) -> str:
    """Which input the error is in: the file when it fails on its own, else the command line
    (a bad `key=value` must not be reported as a fault of the shipped YAML), naming the overrides
    that cause it: each one without which the same error goes away (so a cross-field check names
    both of its fields), else those whose key the message names."""
    if overrides and _fails(cls, file_data) is None:
        named = []
        for i in range(len(overrides)):
            rest = overrides[:i] + overrides[i + 1:]
            try:
                if _fails(cls, apply_overrides(_deep_copy(file_data), rest)) != message:
                    named.append(overrides[i])
            except ConfigError:
                continue  # not expected (each override parsed once already)
        if not named:  # the same error either way (a key set twice): the keys the message names
            head = message.split("; allowed", 1)[0]  # the key lists name every key
            named = [o for o in overrides if re.search(rf"\b{re.escape(o.split('=', 1)[0])}\b", head)]
        named = named or overrides
        shown = " ".join(o if len(o) <= 80 else o[:77] + "..." for o in named[:3])
        more = f" (and {len(named) - 3} more)" if len(named) > 3 else ""
        return f"command-line override{'s' if len(named) > 1 else ''} {shown}{more}: "
    return f"{path}: " if path is not None else ""


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def check(cond: bool, message: str) -> None:
    """Validation helper for __post_init__: raise ConfigError (never assert)."""
    if not cond:
        raise ConfigError(message)
