"""`python -m core.stage MODULE [WORD ...]`: run `python -m MODULE WORD ... EXTRA...`, where EXTRA
are the words of the environment variable ARGS. The Makefile starts every stage through it, so
what a user passes as `make train ARGS='...'` (or CORPUS=, RUN=, PRESET=, ...: exported, and
quoted as one word each) never reaches a shell: ARGS is split into words the way a shell splits
them (quotes group, a backslash escapes) but nothing in it is run (`$(...)`, backticks, `;`
stay text the stage then refuses or takes literally).
"""
from __future__ import annotations

import os
import runpy
import shlex
import sys

from core.cli import printable


def stage_argv(argv: list[str]) -> list[str]:
    """["-m", MODULE, *WORDS, *ARGS words] for `argv` = [MODULE, *WORDS]; a malformed ARGS (an
    unbalanced quote) is one `error:` line and exit 2 (SystemExit)."""
    if not argv:
        print("usage: python -m core.stage MODULE [WORD ...]   (extra words from $ARGS)", file=sys.stderr)
        raise SystemExit(2)
    text = os.environ.get("ARGS", "")
    try:
        extra = shlex.split(text)
    except ValueError as exc:
        print(f"error: ARGS={printable(text)!r}: {exc} (quote a value with spaces as 'key=a b', and close "
              "every quote)", file=sys.stderr)
        raise SystemExit(2) from None
    return ["-m", argv[0], *argv[1:], *extra]


def main(argv: list[str] | None = None) -> int:
    args = stage_argv(sys.argv[1:] if argv is None else argv)
    sys.argv = [args[1], *args[2:]]
    runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
