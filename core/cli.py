"""One command-line pattern for every stage.

    python -m STAGE [--config YAML] [--flag VALUE ...] [key=value ...]

Named flags are shorthands for config keys: they become `key=value` overrides placed
before the user's own, so the config dataclass stays the only thing that validates.
One parsing rule for every stage (`parse_stage_args`): overrides may stand anywhere among the
flags, and a `key=value` word after a many-valued flag (`--models A.pte B.pte reps=2`) is an
override, not one of the flag's values.
`run_cli` turns the error family (core.errors) into one `error: ...` line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from core.errors import PipelineError

# What an override looks like: a dotted key, then `=` (a path never starts like this unless it
# holds `=` in its first part, which no stage's inputs do).
OVERRIDE_RE = re.compile(r"^[A-Za-z_][\w.]*=")


@dataclass(frozen=True)
class Flag:
    """`--name VALUE` sets config key `key`; `as_list` splits a comma-separated value. A flag's value
    is text, taken as given (a path, a name); `typed` flags (a count) are read as YAML, like
    `key=value` overrides (where `007` is 7 and `on` is true)."""
    name: str
    key: str
    help: str
    as_list: bool = False
    metavar: str | None = None
    typed: bool = False


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
        elif not f.typed:  # a JSON string is a YAML double-quoted one: `--run 007` stays "007", not 7
            value = json.dumps(value, ensure_ascii=False)
        out.append(f"{f.key}={value}")
    return out


def parse_stage_args(ap: argparse.ArgumentParser, argv: list[str] | None = None,
                     namespace: argparse.Namespace | None = None) -> argparse.Namespace:
    """`ap.parse_args`, with `key=value` overrides accepted anywhere among the flags
    (argparse's intermixed parsing), override-looking words taken out of many-valued flags into
    `overrides`, and a parser with sub-commands parsed by the chosen command's parser the same way."""
    argv = list(sys.argv[1:] if argv is None else argv)
    sub = next((a for a in ap._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is not None:
        if argv and argv[0] in sub.choices:
            ns = parse_stage_args(sub.choices[argv[0]], argv[1:], namespace)
            setattr(ns, sub.dest, argv[0])
            return ns
        return argparse.ArgumentParser.parse_args(ap, argv, namespace)  # --help, or the usage error
    ns = argparse.ArgumentParser.parse_intermixed_args(ap, argv, namespace)
    if not hasattr(ns, "overrides"):
        return ns
    moved = []
    for action in ap._actions:
        value = getattr(ns, action.dest, None)
        if not action.option_strings or action.nargs not in ("+", "*") or not isinstance(value, list):
            continue
        keep = [v for v in value if not (isinstance(v, str) and OVERRIDE_RE.match(v))]
        moved += [v for v in value if isinstance(v, str) and OVERRIDE_RE.match(v)]
        if action.nargs == "+" and value and not keep:
            ap.error(f"argument {action.option_strings[0]}: expected at least one value before "
                     f"the key=value overrides")
        setattr(ns, action.dest, keep)
    pool = Counter(moved + list(ns.overrides or []))
    ordered = []  # in command-line order: a key given twice keeps its last value
    for word in argv:
        if pool[word] > 0:
            ordered.append(word)
            pool[word] -= 1
    ns.overrides = ordered + list(pool.elements())
    return ns


class StageParser(argparse.ArgumentParser):
    """An ArgumentParser whose parse_args follows `parse_stage_args`."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        return parse_stage_args(self, args, namespace)


def stage_parser(prog: str, description: str, default_config: str | None,
                 flags: tuple[Flag, ...] = ()) -> argparse.ArgumentParser:
    """--config (required when there is no default), the flags, then key=value overrides
    (anywhere among the flags: `parse_args` is `parse_stage_args`)."""
    ap = StageParser(prog=prog, description=description,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if default_config is None:
        ap.add_argument("--config", required=True, help="YAML config of the stage")
    else:
        ap.add_argument("--config", default=default_config, help="YAML config (default: %(default)s)")
    add_flags(ap, flags)
    ap.add_argument("overrides", nargs="*", metavar="key=value",
                    help="dotted config overrides, e.g. seed=1 (an unknown key lists the allowed ones)")
    return ap


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """`text` for a terminal: control characters (an escape sequence from a file name or an
    evaluation set could retitle or clear the terminal, or hide what came before) as \\xNN;
    newlines and tabs kept."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", text)


def run_cli(body: Callable[[], int]) -> int:
    """Run a stage's main body: a PipelineError is one line on stderr and exit 2,
    Ctrl-C is exit 130; any other exception is a bug and propagates with its traceback."""
    try:
        return body()
    except PipelineError as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
