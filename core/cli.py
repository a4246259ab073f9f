"""One command-line pattern for every stage.

    python -m STAGE [--config YAML] [--flag VALUE ...] [key=value ...]

Named flags are shorthands for config keys: they become `key=value` overrides placed
before the user's own, so the config dataclass stays the only thing that validates.
`run_cli` turns the error family (core.errors) into one `error: ...` line and exit 2.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

from core.errors import PipelineError


@dataclass(frozen=True)
class Flag:
    """`--name VALUE` sets config key `key`; `as_list` splits a comma-separated value."""
    name: str
    key: str
    help: str
    as_list: bool = False
    metavar: str | None = None


def add_flags(ap: argparse.ArgumentParser, flags: tuple[Flag, ...]) -> None:
    for f in flags:
        ap.add_argument(f.name, dest=f.key.replace(".", "__"), help=f.help, metavar=f.metavar)


def flag_overrides(args: argparse.Namespace, flags: tuple[Flag, ...]) -> list[str]:
    """The overrides the given flags stand for, in flag order."""
    out = []
    for f in flags:
        value = getattr(args, f.key.replace(".", "__"))
        if value is None:
            continue
        if f.as_list:
            value = "[" + ",".join(v.strip() for v in value.split(",") if v.strip()) + "]"
        out.append(f"{f.key}={value}")
    return out


def stage_parser(prog: str, description: str, default_config: str | None,
                 flags: tuple[Flag, ...] = ()) -> argparse.ArgumentParser:
    """--config (required when there is no default), the flags, then key=value overrides."""
    ap = argparse.ArgumentParser(prog=prog, description=description,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    if default_config is None:
        ap.add_argument("--config", required=True, help="YAML config of the stage")
    else:
        ap.add_argument("--config", default=default_config, help="YAML config (default: %(default)s)")
    add_flags(ap, flags)
    ap.add_argument("overrides", nargs="*", metavar="key=value",
                    help="dotted config overrides, e.g. seed=1 (an unknown key lists the allowed ones)")
    return ap


def run_cli(body: Callable[[], int]) -> int:
    """Run a stage's main body: a PipelineError is one line on stderr and exit 2,
    Ctrl-C is exit 130; any other exception is a bug and propagates with its traceback."""
    try:
        return body()
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
