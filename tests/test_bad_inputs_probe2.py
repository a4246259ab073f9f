"""Issue 28, the second probe: hostile and confused inputs nobody had tried, across every stage CLI,
the Makefile and the C++ runner. One table: each case says what it feeds in, and the outcome it
must have: a clear error (the stage's PipelineError as one `error:` line, exit 2 (the runner: 2 or
3), naming the file, line, field or flag, and nothing written) or handled correctly (the right
output). Every run has a timeout, so a hang fails instead of blocking.

`classify` names the outcome of a run the way the issue counts them: clear error, handled,
data loss, security, hang, silent wrong, traceback, unclear error. Run as a script it prints the
class of every case (the before/after table of the issue's closing note):

    python -m tests.test_bad_inputs_probe2 --base DIR --pte FILE.pte --runner BINARY
"""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
TINY = "train/configs/tiny.yaml"
ESC = "\x1b]0;pwned\x07\x1b[2J"  # set the terminal title, clear the screen


# ---------------------------------------------------------------- running a case
@dataclass
class Res:
    rc: int | None = None
    out: str = ""
    err: str = ""
    exc: str = ""        # a traceback: an exception outside the error family escaped
    hung: bool = False
    secs: float = 0.0


class _Hang(BaseException):
    """Raised by the alarm in an in-process call that ran past its time."""


@contextlib.contextmanager
def _environ(env: dict | None, cwd: Path | None):
    old = {k: os.environ.get(k) for k in env or {}}
    here = os.getcwd()
    for k, v in (env or {}).items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    if cwd is not None:
        os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(here)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def call(target: str, argv: list[str], env: dict | None = None, cwd: Path | None = None,
         timeout: int = 90) -> Res:
    """A stage's main(argv) in this process, stdout and stderr captured, stopped after `timeout`."""
    mod, name = target.split(":")
    fn = getattr(importlib.import_module(mod), name)
    out, err, res = io.StringIO(), io.StringIO(), Res()

    def alarm(*_):
        raise _Hang()
    prev = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(timeout)
    t0 = time.monotonic()
    try:
        with _environ(env, cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            res.rc = fn(argv)
    except SystemExit as exc:  # argparse
        res.rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except _Hang:
        res.hung = True
    except BaseException:  # noqa: BLE001 - what escaped is the finding
        res.exc = traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, prev)
    res.secs, res.out, res.err = time.monotonic() - t0, out.getvalue(), err.getvalue()
    return res


def _default_signals() -> None:
    """In a child: SIGINT as Python expects it (a shell's background job starts with it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def proc(argv: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 60,
         memory_gb: int | None = None) -> Res:
    """A subprocess (a CLI, make, the runner), stopped after `timeout`; `memory_gb` caps its address
    space, so a reader that never stops allocating fails instead of taking the machine's memory."""
    if memory_gb and shutil.which("prlimit"):
        argv = ["prlimit", f"--as={memory_gb << 30}", "--", *argv]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env = {k: v for k, v in full_env.items() if v is not None}
    t0 = time.monotonic()
    # its own process group: on a timeout the whole group goes (a bench's runners, make's children)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd or REPO, env=full_env,
                          start_new_session=True) as p:
        try:
            stdout, stderr = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            stdout, stderr = p.communicate()
            return Res(hung=True, out=stdout.decode(errors="replace"), err=stderr.decode(errors="replace"),
                       secs=time.monotonic() - t0)
    err = stderr.decode(errors="replace")
    res = Res(rc=p.returncode, out=stdout.decode(errors="replace"), err=err, secs=time.monotonic() - t0)
    if "Traceback (most recent call last)" in err and p.returncode not in (0, 2):
        res.exc = err[-3000:]
    return res


@dataclass
class Ctx:
    """One case's world: inputs under tmp/in, outputs under tmp/out, shared resources."""
    tmp: Path
    repo: Path
    base: Path | None = None      # the tiny base model folder
    pte: Path | None = None       # a tiny .pte with its tokenizer.json and metadata beside it
    runner: Path | None = None    # the host runner binary

    @property
    def out(self) -> Path:
        return self.tmp / "out"

    @property
    def inp_dir(self) -> Path:
        d = self.tmp / "in"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def inp(self, name: str, data: bytes | str) -> Path:
        p = self.inp_dir / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return p

    def fifo(self, name: str) -> Path:
        p = self.inp_dir / name
        os.mkfifo(p)
        return p


@dataclass
class Case:
    id: str
    stage: str
    desc: str                              # what goes in (the table's "input" column)
    run: Callable[[Ctx], Res]
    expect: str                            # "error" or "ok"
    pattern: str = ""                      # error: the message must say this (regex over stderr)
    check: Callable[[Ctx, Res], bool] | None = None  # ok: the output is right; error: nothing written
    bad: str = "silent wrong"              # the class when the case does the wrong thing quietly
    needs: tuple[str, ...] = ()            # resources: base, pte, runner


def nothing_written(t: Ctx, res: Res) -> bool:
    return not t.out.exists() or not any(t.out.rglob("*"))


def classify(case: Case, res: Res, t: Ctx) -> tuple[str, str]:
    """(class, why) of one run."""
    if res.hung:
        return "hang", f"still running after {res.secs:.0f} s"
    if res.exc:
        return "traceback", res.exc.strip().splitlines()[-1][:200]
    text = res.err + res.out
    if case.expect == "error":
        if res.rc == 0:
            return case.bad, "exit 0: " + (res.err.strip().splitlines() or [""])[-1][:160]
        if not (case.pattern and re.search(case.pattern, text, re.S)):
            return "unclear error", f"exit {res.rc}: " + " | ".join(res.err.strip().splitlines()[-2:])[:240]
        check = case.check or nothing_written
        if not check(t, res):
            return case.bad, f"exit {res.rc} and a clear message, but it left files behind or did harm"
        return "clear error", ""
    if res.rc != 0:
        return "unclear error", f"exit {res.rc}: " + " | ".join(res.err.strip().splitlines()[-2:])[:240]
    if case.check is not None and not case.check(t, res):
        return case.bad, "exit 0, but the output is wrong"
    return "handled", ""


CASES: list[Case] = []


def case(id: str, stage: str, desc: str, expect: str, pattern: str = "", check=None,
         bad: str = "silent wrong",
         needs: tuple[str, ...] = ()):
    def add(fn: Callable[[Ctx], Res]) -> Callable[[Ctx], Res]:
        CASES.append(Case(id, stage, desc, fn, expect, pattern, check, bad, needs))
        return fn
    return add


def table(ids: list[str], stage: str, expect: str, rows: list[tuple], runner: Callable, **kw) -> None:
    """Many cases of one shape: rows of (desc, argument for `runner`, pattern or check)."""
    for id_, (desc, arg, pat) in zip(ids, rows):
        extra = dict(kw)
        if callable(pat):
            extra["check"], pat = pat, ""
        CASES.append(Case(id_, stage, desc, (lambda t, a=arg: runner(t, a)), expect, pat, **extra))


# ---------------------------------------------------------------- shared inputs
def sentences(n: int = 80) -> list[str]:
    import itertools

    from datagen.everyday import everyday_sentences
    from datagen.text import split_sentences

    return list(itertools.islice((s for s in everyday_sentences() if len(split_sentences(s)) == 1), n))


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def pair_rows(n: int = 8, word: str = "cat") -> list[dict]:
    return [{"input": f"teh {word} sat on teh mat {i}", "output": f"The {word} sat on the mat {i}."}
            for i in range(n)]


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ================================================================ datagen
DATAGEN = "datagen.generate_typos:main"


def dg(t: Ctx, *args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 90) -> Res:
    base = ["--out", str(t.out / "d"), f"runs_root={t.out / 'runs'}", "train_pairs=20", "eval_pairs=2",
            "progress=false", "workers=1", "decontaminate_defaults=false"]
    return call(DATAGEN, [*base, *args], env=env, cwd=cwd, timeout=timeout)  # the case's words win


def built(t: Ctx, res: Res, want: int = 20) -> bool:
    f = t.out / "d" / "train_data.json"
    return f.is_file() and len(read_rows(f)) == want


def _forbid(chars: str):
    def check(t: Ctx, res: Res) -> bool:
        f = t.out / "d" / "train_data.json"
        if not f.is_file():
            return False
        rows = read_rows(f)
        return len(rows) == 20 and not any(c in r["input"] + r["output"] for r in rows for c in chars)
    return check


def corpus_with(t: Ctx, transform: Callable[[list[str]], bytes], name: str = "c.txt") -> Path:
    return t.inp(name, transform(sentences()))


@case("d01", "datagen", "corpus with CRLF line ends", "ok", check=_forbid("\r"))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\r\n".join(s).encode())))


@case("d02", "datagen", "corpus with lone CR line ends (classic Mac)", "ok", check=_forbid("\r"))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\r".join(s).encode())))


@case("d03", "datagen", "corpus mixing LF, CRLF and CR", "ok", check=_forbid("\r"))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "".join(x + ("\n", "\r\n", "\r")[i % 3]
                                                                  for i, x in enumerate(s)).encode())))


@case("d04", "datagen", "zero-width space, joiner, word joiner and a BOM inside sentences", "ok",
      check=_forbid("\u200b\ufeff"))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(
        x.replace(" ", " \u200b", 1).replace("a", "a\u2060", 1) + "\ufeff" for x in s).encode())))


@case("d05", "datagen", "right-to-left marks and a bidi override in sentences", "ok",
      check=lambda t, r: built(t, r))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(
        ("\u200f" if i % 2 else "\u202e") + x for i, x in enumerate(s)).encode())))


def _zwj_kept(t: Ctx, res: Res) -> bool:
    rows = read_rows(t.out / "d" / "train_data.json") if (t.out / "d/train_data.json").exists() else []
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"
    return len(rows) == 20 and all(r["output"].count(family) == r["output"].count("\U0001f469") // 2
                                   for r in rows)


@case("d06", "datagen", "emoji ZWJ sequences in sentences (references keep them whole)", "ok",
      check=_zwj_kept)
def _(t):
    family = "\U0001f469\u200d\U0001f469\u200d\U0001f467"
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(
        x[:-1] + f" {family}" + x[-1] for x in s).encode())))


@case("d07", "datagen", "decomposed combining marks (NFD cafe\u0301)", "ok",
      check=lambda t, r: built(t, r) and "e\u0301" not in (t.out / "d/train_data.json").read_text())
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(
        x.replace("the", "the cafe\u0301", 1) for x in s).encode())))


@case("d08", "datagen", "NUL characters inside corpus sentences", "ok", check=_forbid("\x00"))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(
        x.replace(" ", " \x00", 1) if i % 2 else x for i, x in enumerate(s)).encode())))


@case("d09", "datagen", "ANSI escape sequences inside corpus sentences", "ok", check=_forbid("\x1b\x07"))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(
        x.replace(" ", f" {ESC}", 1) if i % 2 else x for i, x in enumerate(s)).encode())))


table(["d10", "d11", "d12"], "datagen", "error", [
    ("corpus saved as UTF-16 LE with a BOM", "utf-16", r"c.txt: looks like UTF-16"),
    ("corpus saved as UTF-16 BE without a BOM", "utf-16-be", r"c.txt: looks like UTF-16"),
    ("corpus saved as UTF-32", "utf-32", r"c.txt: looks like UTF-16 or UTF-32"),
], lambda t, enc: dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(s).encode(enc)))))


@case("d13", "datagen", "corpus in Latin-1 (every line has a non-UTF-8 byte)", "error",
      r"empty corpus.*skipped_not_utf8")
def _(t):
    latin1 = corpus_with(t, lambda s: "\n".join(x + " caf\xe9." for x in s).encode("latin-1"))
    return dg(t, "--corpus", str(latin1))


@case("d14", "datagen", "corpus of blank and whitespace-only lines", "error", r"error: empty corpus")
def _(t):
    return dg(t, "--corpus", str(t.inp("c.txt", " \n\t\n\r\n   \n" * 50)))


@case("d15", "datagen", "corpus that is one 30 MB line without a newline", "error",
      r"empty corpus.*line_too_long")
def _(t):
    return dg(t, "--corpus", str(t.inp("c.txt", b"word " * 6_000_000)))


@case("d16", "datagen", "corpus path with spaces and non-ASCII letters", "ok", check=lambda t, r: built(t, r))
def _(t):
    return dg(t, "--corpus", str(corpus_with(t, lambda s: "\n".join(s).encode(),
                                             "my c\u00f6rpus \u2713.txt")))


@case("d17", "datagen", "corpus file named -rf given as --corpus=-rf from its folder", "ok",
      check=lambda t, r: built(t, r))
def _(t):
    corpus_with(t, lambda s: "\n".join(s).encode(), "-rf")
    return dg(t, "--corpus=-rf", cwd=t.inp_dir)


@case("d18", "datagen", "--corpus -rf (a dash path as a separate word)", "error",
      r"argument --corpus: expected one argument")
def _(t):
    return dg(t, "--corpus", "-rf")


@case("d19", "datagen", "corpus path climbing out with .. and back", "ok", check=lambda t, r: built(t, r))
def _(t):
    corpus_with(t, lambda s: "\n".join(s).encode())
    return dg(t, "--corpus", str(t.inp_dir / ".." / "in" / "." / "c.txt"))


@case("d20", "datagen", "--out is a symlink to the corpus's own folder", "ok",
      check=lambda t, r: built(t,
                               r) and (t.inp_dir / "c.txt").read_bytes() == "\n".join(sentences()).encode())
def _(t):
    c = corpus_with(t, lambda s: "\n".join(s).encode())
    t.out.mkdir(parents=True)
    (t.out / "d").symlink_to(t.inp_dir)
    return dg(t, "--corpus", str(c))


@case("d21", "datagen", "--out is a symlink to the folder of a --pairs train_data.json", "error",
      r"sources\[1\]\.path", check=lambda t,
      r: (t.inp_dir / "train_data.json").read_text() == jsonl(pair_rows()),
      bad="data loss")
def _(t):
    p = t.inp("train_data.json", jsonl(pair_rows()))
    t.out.mkdir(parents=True)
    (t.out / "d").symlink_to(t.inp_dir)
    return dg(t, "--corpus", "everyday", "--pairs", str(p))


@case("d22", "datagen", "--out is the --decontaminate folder holding the user's eval_data.json", "error",
      r"out_dir .*(train|eval)_data.json lies inside decontaminate\[0\]", bad="data loss",
      check=lambda t, r: (t.inp_dir / "sets/eval_data.json").read_text() == jsonl(pair_rows(word="dog")))
def _(t):
    t.inp("sets/eval_data.json", jsonl(pair_rows(word="dog")))
    return dg(t, "--corpus", "everyday", "--decontaminate", str(t.inp_dir / "sets"), "--out",
              str(t.inp_dir / "sets"))


table(["d23", "d24"], "datagen", "error", [
    ("--out under a read-only location (/sys)", ["--out", "/sys/typo-probe"],
     r"out_dir /sys/typo-probe: .*/sys"),
    ("runs_root under a read-only location (/proc)", ["runs_root=/proc/typo-probe"],
     r"runs_root /proc/typo-probe: .*/proc"),
], lambda t, a: dg(t, "--corpus", "everyday", *a))


@case("d25", "datagen", "sources=[{kind: pairs, path: ''}] run from a folder holding other JSON files",
      "error",
      r"a 'pairs' source needs a path")
def _(t):
    t.inp("other.jsonl", jsonl(pair_rows(word="secret")))
    return dg(t, "sources=[{kind: pairs, path: ''}]", cwd=t.inp_dir)


@case("d26", "datagen", "sources=[{kind: text, path: ' '}] (a blank path)", "error",
      r"' ': no such file or folder")
def _(t):
    t.inp("notes.txt", "\n".join(sentences()))
    return dg(t, "sources=[{kind: text, path: ' '}]", cwd=t.inp_dir)


table(["d27", "d28", "d29"], "datagen", "error", [
    ("TSV pairs with three columns", ("p.tsv", "teh cat\tThe cat.\textra\n"),
     r"p.tsv:1: expected 2 tab-separated columns"),
    ("JSONL pairs line that is a JSON array", ("p.jsonl", '["teh cat", "The cat."]\n'),
     r"p.jsonl:1: expected a JSON object per line"),
    ("a pretty-printed JSON array of pairs instead of JSON Lines", ("p.json", json.dumps(pair_rows(),
                                                                                         indent=2)),
     r"p.json:1: .*JSON Lines"),
], lambda t, a: dg(t, "--corpus", "everyday", "--pairs", str(t.inp(*a))))


@case("d30", "datagen", "TSV pairs with CRLF line ends", "ok",
      check=lambda t, r: built(t, r) and "\r" not in (t.out / "d/train_data.json").read_text())
def _(t):
    return dg(t, "--corpus", "everyday", "--pairs", str(t.inp("p.tsv", "".join(
        f"{r['input']}\t{r['output']}\r\n" for r in pair_rows()))))


@case("d31", "datagen", "JSONL pairs with a UTF-8 BOM and CRLF line ends", "ok",
      check=lambda t, r: built(t, r) and sum(x["source"].startswith("pairs:")
                                             for x in read_rows(t.out / "d/train_data.json")) == 8)
def _(t):
    return dg(t, "--corpus", "everyday", "--pairs", str(t.inp("p.jsonl", b"\xef\xbb\xbf" + jsonl(
        pair_rows()).replace("\n", "\r\n").encode())))


@case("d32", "datagen", "JSONL pair whose output holds a lone surrogate escape \\ud800", "error",
      r"p.jsonl:2: .*surrogate")
def _(t):
    bad = '{"input": "teh cat", "output": "The \\ud800 cat."}\n'
    return dg(t, "--corpus", "everyday", "--pairs", str(t.inp("p.jsonl", jsonl(pair_rows(1)) + bad)))


@case("d33", "datagen", "JSONL pairs with extra fields (source, id, score)", "ok", check=lambda t,
      r: built(t, r))
def _(t):
    return dg(t, "--corpus", "everyday", "--pairs", str(t.inp("p.jsonl", jsonl(
        [{**r, "source": "mine", "id": i, "score": 0.5} for i, r in enumerate(pair_rows())]))))


@case("d34", "datagen", "CSV pairs with a BOM, an upper-case .CSV suffix and quoted commas", "ok",
      check=lambda t, r: built(t, r) and any(x["output"] == "The cat, the dog."
                                             for x in read_rows(t.out / "d/train_data.json")))
def _(t):
    return dg(t, "--corpus", "everyday", "--pairs", str(t.inp("P.CSV", b"\xef\xbb\xbfinput,output\n"
                                                               b'"teh cat, teh dog","The cat, the dog."\n')))


table(["d35", "d36", "d37", "d38"], "datagen", "error", [
    ("misspellings .dat with $correct lines but no misspelling", ("m.dat", "$because\n$their\n"),
     r"m.dat: .*no misspelling"),
    ("misspellings .tsv that is not UTF-8", ("m.tsv",
                                             b"Misspelling\tCorrection\nbecuase\tbecause\ncaf\xe9\tx\n"),
     r"m.tsv.*not UTF-8"),
    ("Norvig spell-testset whose values are lists, not strings", ("spell-testset1.txt",
                                                                  "x = {'the': ['teh']}\n"),
     r"spell-testset1.txt: .*Norvig"),
    ("Norvig spell-testset nested 100000 deep", ("spell-testset2.txt",
                                                 "x = " + "[" * 100_000 + "]" * 100_000),
     r"spell-testset2.txt: .*Norvig"),
], lambda t, a: dg(t, "--corpus", "everyday", "--misspellings", str(t.inp(*a))))


@case("d39", "datagen", "--decontaminate JSON Lines set with a line nested 100000 deep", "error",
      r"e.jsonl:1: .*nested too deeply")
def _(t):
    return dg(t, "--corpus", "everyday", "--decontaminate", str(t.inp("e.jsonl",
                                                                      "[" * 100_000 + "]" * 100_000)))


@case("d40", "datagen", "--run with a right-to-left override character", "error",
      r"--run .* is not a plain name")
def _(t):
    return dg(t, "--corpus", "everyday", "--run", "r1\u202egpj.exe")


@case("d41", "datagen", "--corpus hf:NAME with HF_HUB_OFFLINE=garbage and no network", "error",
      r"hf:nosuch-org/nosuch-set: cannot load dataset")
def _(t):
    return dg(t, "--corpus", "hf:nosuch-org/nosuch-set", env={"HF_HUB_OFFLINE": "garbage"}, timeout=120)


@case("d42", "datagen", "corpus folder holding a named pipe, a symlink loop and one good file", "ok",
      check=lambda t, r: built(t, r))
def _(t):
    corpus_with(t, lambda s: "\n".join(s).encode(), "dir/good.txt")
    os.mkfifo(t.inp_dir / "dir" / "pipe.txt")
    (t.inp_dir / "dir" / "a.txt").symlink_to(t.inp_dir / "dir" / "b.txt")
    (t.inp_dir / "dir" / "b.txt").symlink_to(t.inp_dir / "dir" / "a.txt")
    return dg(t, "--corpus", str(t.inp_dir / "dir"))


@case("d43", "datagen", "train_pairs=1e3 (YAML reads a string)", "error", r"train_pairs: expected an integer")
def _(t):
    return dg(t, "--corpus", "everyday", "train_pairs=1e3")


@case("d44", "datagen", "eval_pairs=-1", "error", r"eval_pairs must be >= 0")
def _(t):
    return dg(t, "--corpus", "everyday", "eval_pairs=-1")


@case("d45", "datagen", "a second build into the same --out while the first is still writing", "error",
      r"being written by another .*pid", bad="silent wrong")
def _(t):
    first = subprocess.Popen(preexec_fn=_default_signals, args=[PY, "-m", "datagen", "--corpus", "everyday",
                                                                "--out", str(t.out / "d"),
                              f"runs_root={t.out / 'runs1'}", "train_pairs=2000000", "eval_pairs=0",
                                                                "workers=1",
                              "progress=false", "decontaminate_defaults=false"], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list((t.out / "d").glob(".*.tmp")):
            time.sleep(0.05)
        res = call(DATAGEN, ["--corpus", "everyday", "--out", str(t.out / "d"),
                             f"runs_root={t.out / 'runs2'}",
                             "train_pairs=20", "eval_pairs=2", "progress=false", "workers=1",
                             "decontaminate_defaults=false", "seed=7"], timeout=60)
        res.err += "" if first.poll() is None else f"\n(the first build ended with {first.returncode})"
        return res
    finally:
        first.kill()
        first.wait(timeout=30)


def _dg_check_45(t: Ctx, res: Res) -> bool:
    return not (t.out / "runs2").exists() and not (t.out / "d" / "train_data.json").exists()


CASES[-1].check = _dg_check_45


@case("d46", "datagen", "Ctrl-C (SIGINT) mid-build, then the same command again", "ok",
      check=lambda t, r: built(t, r, want=30))
def _(t):
    argv = ["--corpus", "everyday", "--out", str(t.out / "d"), f"runs_root={t.out / 'runs'}", "--run", "r",
            "eval_pairs=0", "workers=1", "progress=false", "decontaminate_defaults=false"]
    p = subprocess.Popen(preexec_fn=_default_signals, args=[PY, "-m", "datagen", *argv,
                                                            "train_pairs=2000000"], cwd=REPO,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((t.out / "d").glob(".*.tmp")):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=30)
        return Res(hung=True, err="the interrupted build did not stop", secs=60)
    if p.returncode != 130 or list((t.out / "d").glob(".*.tmp")):
        return Res(rc=1, err=f"first run: exit {p.returncode}, temp files {list((t.out / 'd').glob('.*'))}: "
                             f"{err.decode()[-300:]}")
    return call(DATAGEN, [*argv, "train_pairs=30", "fresh=true"])


# ================================================================ train
TRAIN = "train.train:main"


def tr(t: Ctx, *extra: str, train: Path | None = None, base: str | None = None, env=None, timeout: int = 180,
       ) -> Res:
    data = t.inp("d.json", jsonl(pair_rows()))
    argv = ["--config", str(t.repo / TINY), f"data.train={train or data}", f"data.eval={data}",
            f"model.base={base or t.base}", f"output.root={t.out / 'runs'}", "output.link=", "run_name=r1",
            "train.max_steps=1", "checkpoint.every=1", "eval.samples=1", "eval.max_new_tokens=2",
            "eval.every=0",
            "data.max_eval_samples=2", *extra]
    return call(TRAIN, argv, env=env, timeout=timeout)


@case("t01", "train", "pairs with a BOM, CRLF, zero-width and RTL marks, emoji; paths with spaces and "
      "non-ASCII letters; a CRLF config", "ok", needs=("base",),
      check=lambda t, r: (t.out / "runs/train/r1/summary.json").is_file())
def _(t):
    rows = [{"input": f"teh \u200bcat \u200f{i} \U0001f469\u200d\U0001f467", "output": f"The cat {i}."}
            for i in range(8)]
    f = t.inp("my p\u00e4irs \u2713.json", b"\xef\xbb\xbf" + jsonl(rows).replace("\n", "\r\n").encode())
    cfg = t.inp("tiny crlf.yaml", (t.repo / TINY).read_text().replace("\n", "\r\n"))
    data = t.inp("d.json", jsonl(pair_rows()))
    return call(TRAIN, ["--config", str(cfg), f"data.train={f}", f"data.eval={data}", f"model.base={t.base}",
                        f"output.root={t.out / 'runs'}", "output.link=", "run_name=r1", "train.max_steps=1",
                        "checkpoint.every=1", "eval.samples=1", "eval.max_new_tokens=2", "eval.every=0",
                        "data.max_eval_samples=2"], timeout=240)


table(["t02", "t03", "t04"], "train", "error", [
    ("pairs separated by lone CRs (one line of three objects)",
     "".join(json.dumps(r) + "\r" for r in pair_rows(3)), r"t.json:1: not valid JSON \(Extra data"),
    ("a pair whose output holds a lone surrogate escape", jsonl(pair_rows(1)) +
     '{"input": "teh", "output": "The \\udc00."}\n',
     r"t.json:2: field 'output' holds a lone UTF-16 surrogate"),
    ("a pretty-printed JSON array instead of JSON Lines", json.dumps(pair_rows(), indent=2),
     r"t.json:1: .*JSON Lines"),
], lambda t, content: tr(t, train=t.inp("t.json", content)), needs=("base",))


@case("t05", "train", "output.link names an existing regular file (the user's notes)", "error",
      r"output.link .*notes.txt .*not a link", needs=("base",), bad="data loss",
      check=lambda t, r: (t.inp_dir / "notes.txt").read_text() == "my notes\n")
def _(t):
    notes = t.inp("notes.txt", "my notes\n")
    return tr(t, f"output.link={notes}")


@case("t06", "train", "output.link is the data.train file itself", "error",
      r"output.link .*d.json .*not a link",
      needs=("base",), bad="data loss",
      check=lambda t, r: (t.inp_dir / "d.json").read_text() == jsonl(pair_rows()))
def _(t):
    return tr(t, f"output.link={t.inp_dir / 'd.json'}")


@case("t07", "train", "output.root under a read-only location (/sys)", "error",
      r"output.root /sys/typo-probe: .*/sys")
def _(t):
    return tr(t, "output.root=/sys/typo-probe", base="/nonexistent-base-model")


@case("t08", "train", "run_name=-rf", "error", r"run_name '-rf' is not a plain name")
def _(t):
    return tr(t, "run_name=-rf", base="/nonexistent-base-model")


@case("t09", "train", "a second training with the same run_name while the first is running", "error",
      r"being written by another .*pid", needs=("base",), bad="data loss", check=lambda t, r: True)
def _(t):
    data = t.inp("d.json", jsonl(pair_rows()))
    argv = ["--config", str(t.repo / TINY), f"data.train={data}", f"data.eval={data}", f"model.base={t.base}",
            f"output.root={t.out / 'runs'}", "output.link=", "run_name=r1", "checkpoint.every=1",
            "eval.samples=1", "eval.max_new_tokens=2", "eval.every=0", "data.max_eval_samples=2",
            "train.max_steps=100000"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(preexec_fn=_default_signals, args=[PY, "-m", "train.train", *argv], cwd=REPO,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list((t.out / "runs/train/r1/checkpoints").glob("step-*")):
            time.sleep(0.2)
        res = proc([PY, "-m", "train.train", *argv], env={"OMP_NUM_THREADS": "1"}, timeout=60)
        if res.hung:  # it went ahead and trained into the same folder as the first
            return Res(rc=0, err="the second run trained alongside the first, into the same run folder")
        return res
    finally:
        first.kill()
        first.wait(timeout=30)


@case("t10", "train", "model.base is a Hub id with the Hub unreachable (HF_HUB_OFFLINE=1)", "error",
      r"could not load 'nosuch-org/nosuch-model'")
def _(t):
    return tr(t, base="nosuch-org/nosuch-model", env={"HF_HUB_OFFLINE": "1"})


@case("t11", "train", "HF_ENDPOINT is a malformed URL (http://[::1) and model.base a Hub id", "error",
      r"HF_ENDPOINT")
def _(t):
    return tr(t, base="nosuch-org/nosuch-model", env={"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://[::1"})


@case("t12", "train", "data.max_length=1: no pair can fit", "error", r"data.max_length=1", needs=("base",))
def _(t):
    return tr(t, "data.max_length=1")


@case("t13", "train", "train.device=cuda on a machine without a GPU", "error",
      r"train.device=cuda but no CUDA GPU",
      needs=("base",))
def _(t):
    import torch

    if torch.cuda.is_available():
        return Res(rc=2, err="error: train.device=cuda but no CUDA GPU (skipped: this machine has one)")
    return tr(t, "train.device=cuda")


@case("t14", "train", "lora.init_from is a model folder, not an adapter", "error",
      r"not a PEFT adapter folder",
      needs=("base",))
def _(t):
    return tr(t, f"lora.init_from={t.base}", "model.full_finetune=false")


@case("t15", "train", "--config is a UTF-16 YAML file", "error", r"config file .*c.yaml: not UTF-8")
def _(t):
    return call(TRAIN, ["--config", str(t.inp("c.yaml", (t.repo / TINY).read_text().encode("utf-16")))])


@case("t16", "train", "model.base=gguf: a GGUF file that does not exist", "error", r"nope.gguf")
def _(t):
    return tr(t, base=f"gguf:{t.tmp / 'nope.gguf'}")


# ================================================================ evaluation
EVAL = "evaluation.run:main"


def ev(t: Ctx, *extra: str, bench: Path | str | None = None, backends: str = "identity", env=None,
       timeout: int = 120) -> Res:
    argv = ["--backends", backends, "own_pairs=", f"runs_root={t.out / 'runs'}",
            f"root_copy={t.out / 'root'}",
            "--run", "r1", *extra]
    if bench is not None:
        argv = ["--benchmarks", str(bench), *argv]
    return call(EVAL, argv, env=env, timeout=timeout)


def parallel_set(t: Ctx, corrupt: bytes, correct: bytes, name: str = "set") -> Path:
    t.inp(f"{name}/corrupt.txt", corrupt)
    t.inp(f"{name}/correct.txt", correct)
    return t.inp_dir / name


def scored(n: int):
    def check(t: Ctx, res: Res) -> bool:
        f = t.out / "runs/eval/r1/metrics.json"
        return f.is_file() and all(b["n"] == n for b in json.loads(f.read_text())["benchmarks"].values())
    return check


@case("e01", "evaluation", "corrupt.txt with CRLF, correct.txt with LF", "ok", check=scored(3))
def _(t):
    return ev(t, bench=parallel_set(t, b"teh cat\r\nteh dog\r\nteh fox\r\n", b"the cat\nthe dog\nthe fox\n"))


@case("e02", "evaluation", "corrupt.txt with lone CR line ends (classic Mac), correct.txt with LF", "ok",
      check=scored(3))
def _(t):
    return ev(t, bench=parallel_set(t, b"teh cat\rteh dog\rteh fox\r", b"the cat\nthe dog\nthe fox\n"))


table(["e03", "e04"], "evaluation", "error", [
    ("corrupt.txt and correct.txt with 5 and 4 lines", (b"a\nb\nc\nd\ne\n", b"a\nb\nc\nd\n"),
     r"corrupt.txt has 5 lines but correct.txt has 4"),
    ("corrupt.txt and correct.txt holding only blank lines", (b"\n \n\t\n", b"\n\n\n"),
     r"set holds no pairs"),
], lambda t, a: ev(t, bench=parallel_set(t, *a)))


@case("e05", "evaluation", "corrupt.txt inside the set folder is a named pipe", "error",
      r"set/corrupt.txt: a named pipe, not a regular file", bad="hang")
def _(t):
    t.inp("set/correct.txt", "the cat\n")
    os.mkfifo(t.inp_dir / "set" / "corrupt.txt")
    return ev(t, bench=t.inp_dir / "set", timeout=30)


@case("e06", "evaluation", "corrupt.txt inside the set folder is a symlink loop", "error",
      r"corrupt.txt: Too many levels of symbolic links")
def _(t):
    t.inp("set/correct.txt", "the cat\n")
    (t.inp_dir / "set/corrupt.txt").symlink_to(t.inp_dir / "set/loop.txt")
    (t.inp_dir / "set/loop.txt").symlink_to(t.inp_dir / "set/corrupt.txt")
    return ev(t, bench=t.inp_dir / "set")


table(["e07", "e08"], "evaluation", "error", [
    ("set.json with \"fixes\" given twice (the last would win)",
     '{"fixes": ["spelling", "case", "punctuation"], "fixes": ["spelling"]}',
     r"set.json: not valid JSON \(key 'fixes'"),
    ("set.json nested 100000 deep", "[" * 100_000 + "]" * 100_000,
     r"set.json: not valid JSON \(nested too deeply"),
], lambda t, meta: (parallel_set(t, b"teh cat\n", b"the cat\n"), t.inp("set/set.json", meta),
                    ev(t, bench=t.inp_dir / "set"))[-1])


table(["e09", "e10", "e11"], "evaluation", "error", [
    ('"errors" holding numbers, not objects', {"errors": [1, 2]}, r"p.json:1: .*errors"),
    ('"errors" objects whose type is a number', {"errors": [{"type": 5}]}, r"p.json:1: .*errors"),
    ('"input" a list of strings', {"input": ["teh", "cat"]},
     r'p.json:1: expected an object with string "input"'),
], lambda t, extra: ev(t, bench=t.inp("p.json", jsonl([{"input": "teh cat", "output": "the cat", **extra}]))))


table(["e12", "e13"], "evaluation", "error", [
    ('--benchmarks "" (nothing to evaluate)', "", r"(?i)no evaluation set"),
    ('--benchmarks "," (only separators)', ",", r"(?i)no evaluation set"),
], lambda t, spec: ev(t, bench=spec))


@case("e14", "evaluation", "--backends identity,identity (a backend twice)", "error",
      r"backends .*identity.*twice")
def _(t):
    return ev(t, bench=t.inp("p.json", jsonl(pair_rows(3))), backends="identity,identity")


table(["e15", "e16", "e17"], "evaluation", "error", [
    ("hf.dtype=garbage", "hf.dtype=garbage", r"hf.dtype"),
    ("hf.dtype=nn (a torch attribute that is no dtype)", "hf.dtype=nn", r"hf.dtype"),
    ("hf.device=garbage", "hf.device=garbage", r"hf.device"),
], lambda t, o: ev(t, o, "--model", str(t.base), bench=t.inp("p.json", jsonl(pair_rows(2))), backends="hf"),
    needs=("base",))


@case("e18", "evaluation", "hf.device=cuda on a machine without a GPU", "error", r"hf.device=cuda",
      needs=("base",))
def _(t):
    import torch

    if torch.cuda.is_available():
        return Res(rc=2, err="error: hf.device=cuda (skipped: this machine has a GPU)")
    return ev(t, "hf.device=cuda", "--model", str(t.base), bench=t.inp("p.json", jsonl(pair_rows(2))),
              backends="hf")


@case("e19", "evaluation", "pyspellchecker on a 300-letter non-word", "ok", check=scored(1), bad="hang")
def _(t):
    return ev(t, bench=t.inp("p.json", jsonl([{"input": "teh " + "abcdefghij" * 30, "output": "the x"}])),
              backends="pyspellchecker", timeout=60)


@case("e20", "evaluation", "symspell on one 20 kB run of words", "ok", check=scored(1), bad="hang")
def _(t):
    return ev(t, bench=t.inp("p.json", jsonl([{"input": "teh cat sat " * 1800,
                                               "output": "the cat sat " * 1800}])),
              backends="symspell", timeout=60)


@case("e21", "evaluation", "evaluation set with terminal escape sequences, model backend (printed review)",
      "ok",
      needs=("base",), bad="security", check=lambda t, r: "\x1b" not in r.out and "\x07" not in r.out)
def _(t):
    rows = [{"input": f"teh cat {ESC} sat {i}", "output": f"The cat {ESC} sat {i}."} for i in range(3)]
    return ev(t, "--model", str(t.base), "hf.batch_size=4", bench=t.inp("p.json", jsonl(rows)),
              backends="hf,identity",
              timeout=240)


@case("e22", "evaluation", "a set folder whose name holds terminal escape sequences", "ok", bad="security",
      check=lambda t, r: "\x1b" not in r.out and "\x07" not in r.out)
def _(t):
    return ev(t, bench=parallel_set(t, b"teh cat\n", b"the cat\n", name=f"set{ESC}"))


@case("e23", "evaluation", "root_copy is a symlink to the set's own folder", "error",
      r"root_copy .* lies inside --benchmarks", bad="data loss",
      check=lambda t, r: sorted(p.name for p in (t.inp_dir / "set").iterdir()) == ["correct.txt",
                                                                                   "corrupt.txt"])
def _(t):
    parallel_set(t, b"teh cat\n", b"the cat\n")
    (t.tmp / "alias").symlink_to(t.inp_dir / "set")
    return call(EVAL, ["--benchmarks", str(t.inp_dir / "set"), "--backends", "identity", "own_pairs=",
                       f"runs_root={t.out / 'runs'}", f"root_copy={t.tmp / 'alias'}", "--run", "r1"])


@case("e24", "evaluation", "root_copy under a read-only location (/sys)", "error",
      r"root_copy /sys/typo-probe: .*/sys")
def _(t):
    return call(EVAL, ["--benchmarks", str(t.inp("p.json", jsonl(pair_rows(2)))), "--backends", "identity",
                       "own_pairs=", f"runs_root={t.out / 'runs'}", "root_copy=/sys/typo-probe", "--run",
                       "r1"])


def _slow_eval_argv(t: Ctx, run: str = "r1") -> list[str]:
    rows = [{"input": f"teh cat {i}", "output": f"the cat {i}"} for i in range(400)]
    f = t.inp_dir / "p.json"
    if not f.exists():
        f.write_text(jsonl(rows))
    return ["--benchmarks", str(f), "--backends", "tests.test_bad_inputs_probe2:make_slow", "own_pairs=",
            f"runs_root={t.out / 'runs'}", f"root_copy={t.out / 'root'}", "--run", run, "chunk_size=4"]


class Slow:
    """A backend that takes its time (the concurrency and interruption cases need one that is busy)."""
    name = "slow"

    def correct(self, texts):
        time.sleep(0.02 * len(texts))
        return [t.replace("teh", "the") for t in texts]


def make_slow(model=None, **options):
    return Slow()


@case("e25", "evaluation", "a second evaluation with the same --run while the first is writing", "error",
      r"being written by another .*pid")
def _(t):
    argv = _slow_eval_argv(t)
    first = subprocess.Popen(preexec_fn=_default_signals, args=[PY, "-m", "evaluation", *argv], cwd=REPO,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        cache = t.out / "runs/eval/r1/outputs"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(cache.glob("*.jsonl")):
            time.sleep(0.05)
        return call(EVAL, argv, timeout=60)
    finally:
        first.kill()
        first.wait(timeout=30)


CASES[-1].check = lambda t, r: not (t.out / "root").exists()


@case("e26", "evaluation", "SIGTERM mid-evaluation, then the same command again (resumes)", "ok",
      check=lambda t, r: (t.out / "runs/eval/r1/metrics.json").is_file() and json.loads(
          (t.out / "runs/eval/r1/metrics.json").read_text())["benchmarks"]["p"]["n"] == 400)
def _(t):
    argv = _slow_eval_argv(t)
    first = subprocess.Popen(preexec_fn=_default_signals, args=[PY, "-m", "evaluation", *argv], cwd=REPO,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    cache = t.out / "runs/eval/r1/outputs"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(f.stat().st_size > 200 for f in cache.glob("*.jsonl")):
        time.sleep(0.05)
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    return call(EVAL, argv, timeout=120)


@case("e27", "evaluation", "--backends pte --model M.pte (the model given with --model)", "ok", needs=("pte",
                                                                                                       ),
      check=scored(2))
def _(t):
    return ev(t, "--model", str(t.pte), bench=t.inp("p.json", jsonl(pair_rows(2))), backends="pte",
              timeout=180)


@case("e28", "evaluation", "own_pairs is a UTF-16 file", "error", r"o.json: looks like UTF-16")
def _(t):
    return call(EVAL, ["--benchmarks", str(t.inp("p.json", jsonl(pair_rows(2)))), "--backends", "identity",
                       f"own_pairs={t.inp('o.json', jsonl(pair_rows(2)).encode('utf-16'))}",
                       f"runs_root={t.out / 'runs'}", f"root_copy={t.out / 'root'}", "--run", "r1"])


@case("e29", "evaluation", "a pretty-printed JSON array as the evaluation set", "error",
      r"p.json:1: .*JSON Lines")
def _(t):
    return ev(t, bench=t.inp("p.json", json.dumps(pair_rows(3), indent=2)))


@case("e30", "evaluation", "--model a folder with config.json but no tokenizer", "error",
      r"m: holds no tokenizer files", needs=("base",))
def _(t):
    shutil.copytree(t.base, t.inp_dir / "m")
    for f in (t.inp_dir / "m").glob("tokenizer*"):
        f.unlink()
    return ev(t, "--model", str(t.inp_dir / "m"), bench=t.inp("p.json", jsonl(pair_rows(2))), backends="hf")


# ================================================================ export
EXPORT = "export.export_to_pte:main"


def ex(t: Ctx, *extra: str, model: str | None = None) -> Res:
    return call(EXPORT, ["--model", model or str(t.tmp / "no-model"), "--recipe", "xnnpack-fp32",
                         f"out_dir={t.out / 'models'}", "eval_data=", *extra])


table(["x01", "x02", "x03", "x04", "x05", "x06"], "export", "error", [
    ("--recipe in capitals (XNNPACK-INT8)", ["--recipe", "XNNPACK-INT8"], r"XNNPACK-INT8"),
    ("name with a newline", ["name=a\nb"], r"name must be a plain file name"),
    ("max_seq_len=0", ["max_seq_len=0"], r"max_seq_len"),
    ("max_seq_len=-5", ["max_seq_len=-5"], r"max_seq_len"),
    ("out_dir under a read-only location (/sys)", ["out_dir=/sys/typo-probe"],
     r"out_dir /sys/typo-probe: .*/sys"),
    ("recipes=[] (nothing to export)", ["recipes=[]"], r"recipe"),
], lambda t, a: ex(t, *a))


@case("x07", "export", "eval_data is a named pipe", "error", r"eval_data .*e.json: a named pipe", bad="hang",
      needs=("base",))
def _(t):
    return ex(t, f"eval_data={t.fifo('e.json')}", model=str(t.base))


@case("x08", "export", "--model is a .pte file", "error", r"m.pte: a file; --model takes")
def _(t):
    return ex(t, model=str(t.inp("m.pte", b"PTE" * 100)))


@case("x09", "export", "--model a folder of unrelated text files", "error", r"notes: .*config.json")
def _(t):
    t.inp("notes/a.txt", "hello")
    return ex(t, model=str(t.inp_dir / "notes"))


@case("x10", "export", "out_dir is a symlink to the model folder", "error", r"lies inside --model|is --model",
      needs=("base",), bad="data loss")
def _(t):
    shutil.copytree(t.base, t.inp_dir / "m")
    t.out.mkdir(parents=True)
    (t.out / "models").symlink_to(t.inp_dir / "m")
    return ex(t, model=str(t.inp_dir / "m"))


CASES[-1].check = lambda t, r: sorted(p.name for p in (t.inp_dir / "m").iterdir()) == sorted(
    p.name for p in t.base.iterdir())


# ================================================================ device bench
BENCH = "device_bench.__main__:main"


def bench_cli(argv: list[str], timeout: int = 180) -> Res:
    """The bench CLI in a subprocess: it runs devices in threads, which an in-process alarm cannot stop."""
    return proc([PY, "-m", "device_bench", *argv], timeout=timeout)


def bench_files(t: Ctx, name: str = "m", folder: str = "models") -> Path:
    d = t.inp_dir / folder
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(t.pte, d / f"{name}.pte")
    shutil.copy(t.pte.with_suffix(".json"), d / f"{name}.json")
    shutil.copy(t.pte.parent / "tokenizer.json", d / "tokenizer.json")
    return d / f"{name}.pte"


def bn(t: Ctx, *extra: str, model: Path | None = None, eval_rows: list[dict] | None = None,
       timeout=180) -> Res:
    model = model or bench_files(t)
    ev_file = t.inp("e.json", jsonl(eval_rows if eval_rows is not None else pair_rows(2)))
    return bench_cli(["run", "--models", str(model), "--eval", str(ev_file), "--devices", "host", "--run",
                      "r1",
                        f"reports_dir={t.out / 'reports'}", f"runner_host={t.runner}", "reps=1", "warmup=0",
                        "modes=[plain]", "baselines=[]", *extra], timeout=timeout)


table(["b01", "b02", "b03", "b04", "b05"], "device_bench", "error", [
    ("threads=1000 (the runner takes at most 256)", "threads=1000", r"threads must be"),
    ("warmup=5000 (the runner takes at most 1000)", "warmup=5000", r"warmup must be"),
    ("request_timeout_ms=-1", "request_timeout_ms=-1", r"request_timeout_ms must be"),
    ("request_timeout_ms=2**31", f"request_timeout_ms={2 ** 31}", r"request_timeout_ms must be"),
    ("reps=10000000", "reps=10000000", r"reps must be"),
], lambda t, o: bn(t, o, timeout=60), needs=("pte", "runner"), bad="unclear error")


table(["b06", "b07"], "device_bench", "error", [
    ("--devices host,host", "host,host", r"--devices .*host.*twice"),
    ("--devices ',,'", ",,", r"--devices is empty"),
], lambda t, d: bench_cli(["run", "--models", str(bench_files(t)), "--eval", str(t.inp("e.json", jsonl(
    pair_rows(2)))), "--devices", d, "--run", "r1", f"reports_dir={t.out / 'reports'}",
                           f"runner_host={t.runner}",
    "reps=1", "warmup=0", "modes=[plain]", "baselines=[]"]), needs=("pte", "runner"))


@case("b08", "device_bench", "--eval holding only blank lines", "error", r"e.json: no eval pairs",
      needs=("pte",))
def _(t):
    return bench_cli(["run", "--models", str(bench_files(t)), "--eval", str(t.inp("e.json", "\n \n\n")),
                        "--devices", "host", "--run", "r1", f"reports_dir={t.out / 'reports'}"])


@case("b09", "device_bench", "--eval with a 20000-word sentence that cannot fit the model", "error",
      r"does not fit max_seq_len", needs=("pte", "runner"))
def _(t):
    return bn(t, eval_rows=[{"input": "teh cat " * 10000, "output": "the cat " * 10000}])


@case("b10", "device_bench", "--runner is a folder", "error", r"--runner .*: a folder", needs=("pte",
                                                                                               "runner"))
def _(t):
    return bench_cli(["run", "--models", str(bench_files(t)), "--eval", str(t.inp("e.json",
                                                                                  jsonl(pair_rows(2)))),
                        "--devices", "host", "--run", "r1", f"reports_dir={t.out / 'reports'}", "--runner",
                        str(t.inp_dir), "reps=1", "warmup=0", "modes=[plain]", "baselines=[]"])


def _html_safe(t: Ctx, res: Res) -> bool:
    html = (t.out / "reports/r1/report.html")
    return html.is_file() and "<script>" not in html.read_text() and "<img src=x" not in html.read_text()


@case("b11", "device_bench", "note=<script>, a model named <img onerror=...> in a folder with spaces and "
      "non-ASCII letters", "ok", needs=("pte", "runner"), bad="security", check=_html_safe)
def _(t):
    model = bench_files(t, "<img src=x onerror=alert(1)>", "my m\u00f6dels \u2713")
    return bn(t, "note=<script>alert(1)</script>", model=model)


@case("b12", "device_bench", "reports_dir is a symlink to the models' parent, --run names the models folder",
      "error", r"the report folder .* holds --models", needs=("pte",), bad="data loss",
      check=lambda t, r: sorted(p.name for p in (t.inp_dir / "models").iterdir()) == ["m.json", "m.pte",
                                                                                     "tokenizer.json"])
def _(t):
    model = bench_files(t)
    (t.tmp / "alias").symlink_to(t.inp_dir)
    return bench_cli(["run", "--models", str(model), "--eval", str(t.inp("e.json", jsonl(pair_rows(2)))),
                        "--devices", "host", "--run", "models", f"reports_dir={t.tmp / 'alias'}"])


@case("b13", "device_bench", "real_eval a UTF-16 pairs file", "error",
      r"real_eval .*r.json: .*looks like UTF-16",
      needs=("pte", "runner"))
def _(t):
    return bn(t, f"real_eval={t.inp('r.json', jsonl(pair_rows(2)).encode('utf-16'))}")


@case("b14", "device_bench", "timeout_s=0.000001 (the runner's `timeout` counts whole seconds)", "error",
      r"timeout_s must be >= 1", needs=("pte", "runner"))
def _(t):
    return bn(t, "timeout_s=0.000001")


@case("b15", "device_bench", "a second bench with the same --run while the first is running", "error",
      r"being written by another .*pid", needs=("pte", "runner"))
def _(t):
    model, ev_file = bench_files(t), t.inp("e.json", jsonl(pair_rows(2)))
    argv = ["run", "--models", str(model), "--eval", str(ev_file), "--devices", "host", "--run", "r1",
            f"reports_dir={t.out / 'reports'}", f"runner_host={t.runner}", "warmup=0", "modes=[plain]",
            "baselines=[]"]
    first = subprocess.Popen(preexec_fn=_default_signals, args=[PY, "-m", "device_bench", *argv, "reps=500"],
                             cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (t.out / "reports/r1/host-work").exists():
            time.sleep(0.1)
        time.sleep(1)
        return bench_cli([*argv, "reps=1"], timeout=120)
    finally:
        first.kill()
        first.wait(timeout=30)


CASES[-1].check = lambda t, r: True  # the first run's report folder is its own


@case("b16", "device_bench", "remote_dir with a shell command substitution in it", "ok", bad="security",
      check=lambda t, r: "PWNED" not in r.err and r.out.count("'/data/local/tmp/$(touch PWNED)'") >= 2)
def _(t):
    from device_bench import adb

    class Dev:
        serial = "fake"

        def shell2(self, cmd, timeout=None, v2=True):
            print(cmd)
            return type("R", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            target = adb.AdbTarget(Dev(), "/data/local/tmp/$(touch PWNED)", progress=False)
            target.prepare()
        except Exception as exc:  # noqa: BLE001
            return Res(rc=2, err=f"error: {exc}")
    return Res(rc=0, out=out.getvalue())


# ================================================================ the C++ runner
def rn(t: Ctx, *args: str, requests: list | bytes | None = None, model: Path | None = None, timeout: int = 60
       ) -> Res:
    t.out.mkdir(parents=True, exist_ok=True)
    req = t.out / "requests.jsonl"
    if isinstance(requests, bytes):
        req.write_bytes(requests)
    else:
        req.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n"
                               for r in (requests if requests is not None else [{"id": "a", "prompt_ids": [1,
                                                                                                           2]}])))
    argv = [str(t.runner), "--model", str(model or t.pte), "--requests", str(req), "--results",
            str(t.out / "results.jsonl"), "--summary", str(t.out / "summary.json"), *args]
    return proc(argv, timeout=timeout, memory_gb=4)


def results(t: Ctx) -> list[dict]:
    """The results file, read strictly (UTF-8 JSON per line), else [] when missing or unreadable."""
    f = t.out / "results.jsonl"
    try:
        return [json.loads(line) for line in f.read_bytes().decode("utf-8").splitlines()]
    except (OSError, UnicodeDecodeError, ValueError):
        return []


def no_outputs(t: Ctx, res: Res) -> bool:
    return not (t.out / "results.jsonl").exists() and not (t.out / "summary.json").exists() and not list(
        t.out.glob("*.tmp"))


RUNNER_FLAGS = [
    ("r01", "--threads -1", ["--threads", "-1"], r"--threads expects an integer in \[0, 256\], got '-1'"),
    ("r02", "--threads 257", ["--threads", "257"], r"--threads expects an integer in \[0, 256\]"),
    ("r03", "--threads abc", ["--threads", "abc"], r"--threads expects an integer"),
    ("r04", "--threads '' (empty)", ["--threads", ""], r"--threads expects an integer"),
    ("r05", "--threads 1e3", ["--threads", "1e3"], r"--threads expects an integer"),
    ("r06", "--threads 99999999999999999999", ["--threads", "99999999999999999999"],
     r"--threads expects an integer"),
    ("r07", "--reps 0", ["--reps", "0"], r"--reps expects an integer in \[1, 1000\]"),
    ("r08", "--reps 1001", ["--reps", "1001"], r"--reps expects an integer in \[1, 1000\]"),
    ("r09", "--warmup -1", ["--warmup", "-1"], r"--warmup expects an integer in \[0, 1000\]"),
    ("r10", "--timeout-ms -5", ["--timeout-ms", "-5"], r"--timeout-ms expects an integer"),
    ("r11", "--speculate COPY (capitals)", ["--speculate", "COPY"], r"--speculate must be none or copy"),
    ("r12", "--speculate copy --draft-len 0", ["--speculate", "copy", "--draft-len", "0"],
     r"--draft-len expects an integer in \[1, 64\]"),
    ("r13", "--prefix-cache maybe", ["--prefix-cache", "maybe"], r"--prefix-cache must be on or off"),
    ("r14", "--modle (a misspelt flag)", ["--modle", "x"], r"unknown option --modle"),
    ("r15", "--results given as the last word, no value", ["--results"], r"missing value after --results"),
    ("r16", "--threads ' 4' (leading space)", ["--threads", " 4"], r"--threads expects an integer"),
]
for _id, _desc, _args, _pat in RUNNER_FLAGS:
    CASES.append(Case(_id, "runner", _desc, (lambda t, a=_args: rn(t, *a)), "error", r"typo_runner: " + _pat,
                      check=no_outputs, needs=("pte", "runner")))


@case("r17", "runner", "no arguments at all", "error",
      r"--model, --requests, --results and --summary are required",
      needs=("runner",))
def _(t):
    return proc([str(t.runner)], timeout=30)


@case("r18", "runner", "--help", "ok", check=lambda t, r: "usage: typo_runner" in r.out, needs=("runner",))
def _(t):
    return proc([str(t.runner), "--help"], timeout=30)


@case("r19", "runner", "--requests is a named pipe", "error", r"--requests .*req.fifo is a named pipe",
      bad="hang",
      needs=("pte", "runner"))
def _(t):
    t.out.mkdir(parents=True)
    return proc([str(t.runner), "--model", str(t.pte), "--requests", str(t.fifo("req.fifo")), "--results",
                 str(t.out / "r.jsonl"), "--summary", str(t.out / "s.json")], timeout=20, memory_gb=4)


CASES[-1].check = lambda t, r: True


@case("r20", "runner", "--model is a named pipe", "error", r"--model .*m.fifo is a named pipe", bad="hang",
      needs=("runner",))
def _(t):
    return rn(t, model=t.fifo("m.fifo"), timeout=20)


CASES[-1].check = lambda t, r: True


@case("r21", "runner", "--model is a folder", "error", r"--model .*models is a folder, not a .pte file",
      needs=("runner",))
def _(t):
    t.inp("models/x.txt", "x")
    return rn(t, model=t.inp_dir / "models")


CASES[-1].check = lambda t, r: True


@case("r22", "runner", "--requests is /dev/zero (endless, no newline)", "error",
      r"--requests /dev/zero is a character "
      r"device", bad="hang", needs=("pte", "runner"))
def _(t):
    t.out.mkdir(parents=True)
    return proc([str(t.runner), "--model", str(t.pte), "--requests", "/dev/zero", "--results",
                 str(t.out / "r.jsonl"), "--summary", str(t.out / "s.json")], timeout=30, memory_gb=2)


CASES[-1].check = lambda t, r: True


@case("r23", "runner", "--requests is /dev/null", "error", r"--requests /dev/null is a character device",
      needs=("pte", "runner"))
def _(t):
    t.out.mkdir(parents=True)
    return proc([str(t.runner), "--model", str(t.pte), "--requests", "/dev/null", "--results",
                 str(t.out / "r.jsonl"), "--summary", str(t.out / "s.json")], timeout=30, memory_gb=4)


CASES[-1].check = lambda t, r: True


table(["r24", "r25"], "runner", "error", [
    ("--results is an existing folder", "results.jsonl", r"--results .*results.jsonl is a folder"),
    ("--summary is an existing folder", "summary.json", r"--summary .*summary.json is a folder"),
], lambda t, name: ((t.out / name).mkdir(parents=True), rn(t))[-1], needs=("pte", "runner"),
    check=lambda t, r: not list(t.out.glob("*.tmp")))


@case("r26", "runner", "--results in a folder that does not exist", "error",
      r"--results .*: (the folder .* does not exist|cannot write)", needs=("pte", "runner"))
def _(t):
    t.out.mkdir(parents=True)
    (t.out / "requests.jsonl").write_text('{"id": "a", "prompt_ids": [1]}\n')
    return proc([str(t.runner), "--model", str(t.pte), "--requests", str(t.out / "requests.jsonl"),
                 "--results",
                 str(t.out / "nope" / "r.jsonl"), "--summary", str(t.out / "s.json")], timeout=60,
                memory_gb=4)


CASES[-1].check = lambda t, r: True


def per_request(pattern: str, n_ok: int = 0):
    """The run succeeds (exit 0) with one error result per bad request naming what is wrong, and a
    results file that is valid UTF-8 JSON."""
    def check(t: Ctx, res: Res) -> bool:
        rows = results(t)
        bad = [r for r in rows if r.get("error")]
        return bool(rows) and len(rows) - len(bad) == n_ok and all(re.search(pattern,
                                                                             r["error"]) for r in bad)
    return check


REQUESTS = [  # (id, desc, request line(s), pattern of each error, good ones)
    ("r27", "a token id of 2**40", [{"id": "a", "prompt_ids": [1, 2 ** 40]}], r"outside the vocabulary", 0),
    ("r28", "a negative token id", [{"id": "a", "prompt_ids": [1, -3]}], r"token id -3 is outside", 0),
    ("r29", "a token id just past the vocabulary", ['{"id": "a", "prompt_ids": [1, VOCAB]}'],
     r"token id \d+ is outside",
     0),
    ("r30", "a token id 1.5", ['{"id": "a", "prompt_ids": [1, 1.5]}'], r"non-integer: 1.5", 0),
    ("r31", "a token id given as a string", ['{"id": "a", "prompt_ids": [1, "2"]}'], r"non-integer", 0),
    ("r32", "a token id true", ['{"id": "a", "prompt_ids": [true]}'], r"non-integer", 0),
    ("r33", "a token id null", ['{"id": "a", "prompt_ids": [null, 1]}'], r"non-integer", 0),
    ("r34", "a token id 1e2", ['{"id": "a", "prompt_ids": [1e2]}'], r"non-integer", 0),
    ("r35", "a 19-digit token id", ['{"id": "a", "prompt_ids": [1234567890123456789]}'],
     r"token id 1234567890123456789 is outside the vocabulary", 0),
    ("r36", "a token id 1e999", ['{"id": "a", "prompt_ids": [1e999]}'], r"out of range|1e999", 0),
    ("r37", "a token id with a leading zero (01)", ['{"id": "a", "prompt_ids": [01]}'], r"leading zero", 0),
    ("r38", "no prompt_ids", ['{"id": "a"}'], r"'prompt_ids' must be a non-empty array", 0),
    ("r39", "prompt_ids an object", ['{"id": "a", "prompt_ids": {"0": 1}}'], r"'prompt_ids' must be", 0),
    ("r40", "prompt_ids empty", ['{"id": "a", "prompt_ids": []}'], r"'prompt_ids' must be a non-empty", 0),
    ("r41", "prompt_ids given twice in one request", ['{"id": "a", "prompt_ids": [1], "prompt_ids": [2, 3]}'],
     r'key "prompt_ids" appears twice', 0),
    ("r42", "id given twice in one request", ['{"id": "a", "id": "b", "prompt_ids": [1]}'],
     r'key "id" appears twice', 0),
    ("r43", "two requests with the same id", [{"id": "a", "prompt_ids": [1]}, {"id": "a", "prompt_ids": [2]}],
     r"id \"a\" .*line 1", 1),
    ("r44", "max_new_tokens 0", [{"id": "a", "prompt_ids": [1], "max_new_tokens": 0}],
     r"'max_new_tokens' must be", 0),
    ("r45", "max_new_tokens \"5\"", [{"id": "a", "prompt_ids": [1], "max_new_tokens": "5"}],
     r"'max_new_tokens' must be", 0),
    ("r46", "source_span [5, 2]", [{"id": "a", "prompt_ids": [1, 2, 3], "source_span": [5, 2]}],
     r"'source_span' \[5, 2\] must satisfy", 0),
    ("r47", "a request line that is an array", ["[1, 2]"], r"a request must be a JSON object", 0),
    ("r48", "a request line that is null", ["null"], r"a request must be a JSON object", 0),
    ("r49", "a request nested 100000 deep", ["[" * 100_000 + "]" * 100_000], r"nesting deeper than 64", 0),
    ("r50", "a request followed by junk on its line", ['{"id": "a", "prompt_ids": [1]} x'],
     r"trailing characters", 0),
    ("r51", "a NUL byte between tokens", ['{"id": "a",\x00 "prompt_ids": [1]}'], r"got byte 0x00", 0),
]


def _request_lines(t: Ctx, lines: list) -> bytes:
    vocab = 0
    if t.pte is not None:
        meta = json.loads(t.pte.with_suffix(".json").read_text())
        vocab = meta["vocab_size"]
    return "".join((r.replace("VOCAB", str(vocab)) if isinstance(r, str) else json.dumps(r)) + "\n"
                   for r in lines).encode()


# a wrong message is unclear; a request run as another is wrong
for _id, _desc, _lines, _pat, _ok in REQUESTS:
    CASES.append(Case(_id, "runner", f"requests: {_desc}",
                      (lambda t, ls=_lines: rn(t, requests=_request_lines(t, ls))),
                      "ok", check=per_request(_pat, _ok), needs=("pte", "runner"),
                      bad="silent wrong" if _id in ("r37", "r41", "r42", "r43") else "unclear error"))


@case("r52", "runner", "requests: extra fields in a request", "ok", check=per_request("-", 1), needs=("pte",
                                                                                                      "runner"))
def _(t):
    return rn(t, requests=[{"id": "a", "prompt_ids": [1, 2], "max_new_tokens": 2, "temperature": 0.7,
                            "x": {"y": 1}}])


@case("r53", "runner", "requests: a UTF-8 byte-order mark at the start of the file", "ok",
      check=per_request("-", 1),
      needs=("pte", "runner"), bad="unclear error")
def _(t):
    return rn(t, requests=b'\xef\xbb\xbf{"id": "a", "prompt_ids": [1, 2], "max_new_tokens": 2}\n')


@case("r54", "runner", "requests: an invalid UTF-8 byte between tokens (results stay UTF-8)", "ok",
      check=per_request(r"got byte 0xff", 0), needs=("pte", "runner"))
def _(t):
    return rn(t, requests=b'{"id": "a", \xff"prompt_ids": [1]}\n')


@case("r55", "runner", "requests: an id holding invalid UTF-8 bytes", "ok", check=per_request(r"not UTF-8",
                                                                                              0),
      needs=("pte", "runner"))
def _(t):
    return rn(t, requests=b'{"id": "a\xc3\x28b", "prompt_ids": [1]}\n')


@case("r56", "runner", "requests: a UTF-16 file (results stay UTF-8, one error per line)", "ok",
      check=per_request(r"requests line \d: .*(UTF-16|unexpected character)", 0), needs=("pte", "runner"))
def _(t):
    return rn(t, requests='{"id": "a", "prompt_ids": [1, 2]}\n'.encode("utf-16"))


@case("r57", "runner", "requests: CRLF line ends", "ok", check=per_request("-", 2), needs=("pte", "runner"))
def _(t):
    return rn(t, requests=b'{"id": "a", "prompt_ids": [1], "max_new_tokens": 2}\r\n'
                          b'{"id": "b", "prompt_ids": [2], "max_new_tokens": 2}\r\n')


@case("r58", "runner", "requests: only blank lines", "ok",
      check=lambda t,
      r: results(t) == [] and json.loads((t.out / "summary.json").read_text())["requests"] == 0,
      needs=("pte", "runner"))
def _(t):
    return rn(t, requests=b"\n  \n\t\n")


@case("r59", "runner", "requests: one 30 MB line of token ids", "ok",
      check=per_request(r"prompt has \d+ tokens", 0),
      needs=("pte", "runner"))
def _(t):
    return rn(t, requests=b'{"id": "a", "prompt_ids": [' + b"1, " * 10_000_000 + b'1]}\n', timeout=120)


@case("r60", "runner", "requests: max_new_tokens 2**40 (stops at the cache)", "ok", check=per_request("-", 1),
      needs=("pte", "runner"))
def _(t):
    return rn(t, requests=[{"id": "a", "prompt_ids": [1, 2], "max_new_tokens": 2 ** 40}])


@case("r61", "runner", "--timeout-ms 1 (every request runs out of time)", "ok",
      check=lambda t, r: len(results(t)) == 1, needs=("pte", "runner"))
def _(t):
    return rn(t, "--timeout-ms", "1", requests=[{"id": "a", "prompt_ids": [1, 2], "max_new_tokens": 200}])


@case("r62", "runner", "--model path with spaces and non-ASCII letters; --results named -rf", "ok",
      check=lambda t, r: (t.out / "-rf").is_file(), needs=("pte", "runner"))
def _(t):
    d = t.inp_dir / "my m\u00f6dels \u2713"
    d.mkdir()
    shutil.copy(t.pte, d / "m.pte")
    t.out.mkdir(parents=True)
    (t.out / "q.jsonl").write_text('{"id": "a", "prompt_ids": [1, 2], "max_new_tokens": 2}\n')
    return proc([str(t.runner), "--model", str(d / "m.pte"), "--requests", "q.jsonl", "--results", "-rf",
                 "--summary", "s.json"], cwd=t.out, timeout=60, memory_gb=4)


@case("r63", "runner", "two runners writing the same --results at once", "ok", needs=("pte", "runner"),
      check=lambda t, r: len(results(t)) == 300)
def _(t):
    t.out.mkdir(parents=True)
    (t.out / "q.jsonl").write_text("".join(json.dumps({"id": f"s{i}", "prompt_ids": [1, 2, 3],
                                                       "max_new_tokens": 4}) + "\n" for i in range(300)))
    argv = [str(t.runner), "--model", str(t.pte), "--requests", str(t.out / "q.jsonl"), "--results",
            str(t.out / "results.jsonl")]
    ps = [subprocess.Popen(argv + ["--summary", str(t.out / f"s{k}.json")], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE) for k in range(2)]
    errs = [p.communicate(timeout=120)[1].decode() for p in ps]
    rc = max(p.returncode for p in ps)
    return Res(rc=rc, err="\n".join(errs))


# ================================================================ the Makefile
FAKE_PY = """import os, sys
args = sys.argv[1:]
with open(os.environ["PROBE_ARGV"], "a") as rec:
    if args[:2] == ["-m", "core.stage"]:  # the Makefile's stage launcher: ARGS split as it splits them
        sys.path.insert(0, os.getcwd())
        from core.stage import stage_argv
        try:
            args = stage_argv(args[2:])
        except SystemExit as exc:
            sys.exit(exc.code)
    rec.write("".join(a + "\\n" for a in args) + "--\\n")
print("models/checkpoint")
"""


def mk(t: Ctx, target: str, *variables: str) -> Res:
    """`make TARGET VAR=...` with PY a stand-in that records the argv the stage would get (one word per
    line), setup taken as done; a file PWNED appears in tmp if a shell ran the text."""
    (t.tmp / "fake.py").write_text(FAKE_PY)
    fake = t.tmp / "fakepy"
    fake.write_text(f"#!/bin/sh\nexec {PY} {t.tmp / 'fake.py'} \"$@\"\n")
    fake.chmod(0o755)
    return proc(["make", "--no-print-directory", "-o", "setup", "-o", ".venv/.installed", target,
                 f"PY={fake}",
                 *[v.replace("{T}", str(t.tmp)) for v in variables]], cwd=t.repo, timeout=60,
                env={"PROBE_ARGV": str(t.tmp / "argv.txt")})


def argv_of(t: Ctx) -> list[str]:
    f = t.tmp / "argv.txt"
    return f.read_text().splitlines() if f.exists() else []


def safe(*words: str):
    """No shell ran the text, and the stage got each `words` item as one argument."""
    def check(t: Ctx, res: Res) -> bool:
        got = argv_of(t)
        return not (t.tmp / "PWNED").exists() and all(w.replace("{T}", str(t.tmp)) in got for w in words)
    return check


MAKE = [
    ("m01", "make data CORPUS='x; touch PWNED'", "data", ["CORPUS=x; touch {T}/PWNED"],
     ["--corpus=x; touch {T}/PWNED"]),
    ("m02", "make data CORPUS='$(touch PWNED)'", "data", ["CORPUS=$$(touch {T}/PWNED)"],
     ["--corpus=$(touch {T}/PWNED)"]),
    ("m03", "make data CORPUS='my corpus.txt' (a space in the path)", "data", ["CORPUS=my corpus.txt"],
     ["--corpus=my corpus.txt"]),
    ("m04", "make data RUN='a;touch PWNED'", "data", ["RUN=a;touch {T}/PWNED"], ["--run=a;touch {T}/PWNED"]),
    ("m05", "make train PRESET='tiny; touch PWNED'", "train", ["PRESET=tiny; touch {T}/PWNED"],
     ["--config=train/configs/tiny; touch {T}/PWNED.yaml"]),
    ("m06", "make train ARGS='seed=1; touch PWNED'", "train", ["ARGS=seed=1; touch {T}/PWNED"], ["seed=1;"]),
    ("m07", "make eval ARGS='$(touch PWNED)'", "eval", ["ARGS=$$(touch {T}/PWNED)"], ["$(touch"]),
    ("m08", "make data ARGS=\"name='a b' seed=2\" (quotes group words)", "data", ["ARGS=name='a b' seed=2"],
     ["name=a b", "seed=2"]),
    ("m09", "make eval ADAPTER='$(touch PWNED)'", "eval", ["ADAPTER=$$(touch {T}/PWNED)"], ["merge"]),
    ("m10", "make bench DEVICES='host;touch PWNED'", "bench", ["DEVICES=host;touch {T}/PWNED"],
     ["--devices=host;touch {T}/PWNED"]),
    ("m11", "make eval EVAL_DATA='x`touch PWNED`'", "eval", ["EVAL_DATA=x`touch {T}/PWNED`"],
     ["--benchmarks=x`touch {T}/PWNED`"]),
    ("m12", "make bench REAL='$(touch PWNED)'", "bench", ["REAL=$$(touch {T}/PWNED)"],
     ["--real=$(touch {T}/PWNED)"]),
    ("m13", "make data CORPUS=-rf (a path that starts with a dash)", "data", ["CORPUS=-rf"],
     ["--corpus=-rf"]),
    ("m14", "make export ARGS='name=x\"y' (an unbalanced quote)", "export", ["ARGS=name=x\"y"], []),
]
for _id, _desc, _target, _vars, _words in MAKE:
    _bad = "security" if "PWNED" in _desc else "silent wrong"
    if _id == "m14":
        CASES.append(Case(_id, "make", _desc, (lambda t, tg=_target, vs=_vars: mk(t, tg, *vs)), "error",
                          r"ARGS.*(quotation|quote)", check=lambda t, r: argv_of(t) == []))
        continue
    CASES.append(Case(_id, "make", _desc, (lambda t, tg=_target, vs=_vars: mk(t, tg, *vs)), "ok",
                      check=safe(*_words), bad=_bad))


# ================================================================ other entry points
@case("o01", "cloud", "cloud.pipeline --train-args '$(touch PWNED); x' is split into words, never run", "ok",
      bad="security", check=lambda t, r: r.out.strip() == json.dumps(["$(touch", "PWNED);", "x"]))
def _(t):
    from cloud.pipeline import split_args

    return Res(rc=0, out=json.dumps(split_args("$(touch PWNED); x", "--train-args")))


@case("o02", "core.loading", "python -m core.loading merge on a folder that is no adapter", "error",
      r"not a PEFT adapter folder")
def _(t):
    t.inp("a/x.txt", "x")
    return call("core.loading:main", ["merge", str(t.inp_dir / "a"), "--cache", str(t.out / "merged")])


@case("o03", "evaluation", "--model a preset with HF_HUB_OFFLINE=garbage and no network: fails fast", "error",
      r"error: ", needs=())
def _(t):
    return ev(t, "--model", "qwen3-0.6b", bench=t.inp("p.json", jsonl(pair_rows(2))), backends="hf",
              env={"HF_HUB_OFFLINE": "garbage"}, timeout=120)


# ---------------------------------------------------------------- wrong types and odd values on every CLI
table(["e31", "e32", "e33"], "evaluation", "error", [
    ("--limit 1.5", ["--limit", "1.5"], r"limit: expected an integer, got 1.5"),
    ("--limit abc", ["--limit", "abc"], r"limit: expected an integer, got 'abc'"),
    ("--limit 10**30", ["--limit", str(10 ** 30)], r"limit: 1000+\.\.\. is out of range"),
], lambda t, a: ev(t, *a, bench=t.inp("p.json", jsonl(pair_rows(2)))))

table(["x11", "x12"], "export", "error", [
    ("--recipe with no value", ["--recipe"], r"argument --recipe: expected one argument"),
    ("jobs=abc", ["jobs=abc"], r"jobs: expected an integer, got 'abc'"),
], lambda t, a: ex(t, *a))

table(["t17", "t18"], "train", "error", [
    ("train.max_steps=-1", ["train.max_steps=-1"], r"max_steps"),
    ("data.max_train_samples=ten", ["data.max_train_samples=ten"],
     r"data.max_train_samples: expected an integer"),
], lambda t, a: tr(t, *a, base="/nonexistent-base-model"))


@case("t19", "train", "no --config at all", "error", r"the following arguments are required: --config")
def _(t):
    return call(TRAIN, ["train.max_steps=1"])


@case("b17", "device_bench", "--adb-port abc", "error", r"argument --adb-port: invalid int value: 'abc'")
def _(t):
    return bench_cli(["run", "--models", "m.pte", "--eval", "e.json", "--adb-port", "abc"])


@case("b18", "device_bench", "--eval with a key given twice in a line", "error",
      r"e.json:1: not valid JSON \(key 'output' appears twice", needs=("pte",))
def _(t):
    return bench_cli(["run", "--models", str(bench_files(t)), "--eval", str(t.inp("e.json",
                                                                                  '{"input": "teh", '
                        '"output": "the", "output": "a"}\n')), "--devices", "host", "--run", "r1",
                        f"reports_dir={t.out / 'reports'}"])


@case("b19", "device_bench", "--real names a set folder whose correct.txt is a named pipe", "error",
      r"correct.txt: a named pipe", needs=("pte",), bad="hang")
def _(t):
    t.inp("real/corrupt.txt", "teh cat\n")
    os.mkfifo(t.inp_dir / "real" / "correct.txt")
    return bench_cli(["run", "--models", str(bench_files(t)), "--eval", str(t.inp("e.json",
                                                                                  jsonl(pair_rows(2)))),
                        "--devices", "host", "--run", "r1", f"reports_dir={t.out / 'reports'}", "--real",
                        str(t.inp_dir / "real")], timeout=30)


@case("r64", "runner", "--model is /dev/null", "error", r"--model /dev/null is a character device",
      needs=("runner",))
def _(t):
    return rn(t, model=Path("/dev/null"))


CASES[-1].check = lambda t, r: True


@case("r65", "runner", "--requests is a symlink loop", "error",
      r"requests.*Too many levels of symbolic links",
      needs=("pte", "runner"))
def _(t):
    t.out.mkdir(parents=True)
    (t.inp_dir / "a.jsonl").symlink_to(t.inp_dir / "b.jsonl")
    (t.inp_dir / "b.jsonl").symlink_to(t.inp_dir / "a.jsonl")
    return proc([str(t.runner), "--model", str(t.pte), "--requests", str(t.inp_dir / "a.jsonl"), "--results",
                 str(t.out / "r.jsonl"), "--summary", str(t.out / "s.json")], timeout=30, memory_gb=4)


CASES[-1].check = lambda t, r: True


@case("d47", "datagen", "--decontaminate a UTF-16 evaluation file", "error", r"e.txt: looks like UTF-16")
def _(t):
    return dg(t, "--corpus", "everyday", "--decontaminate", str(t.inp("e.txt", "\n".join(sentences(5)).encode(
        "utf-16"))))


@case("o04", "train.snapshot", "python -m train.snapshot on a run folder that is a named pipe", "error",
      r"run .*run.fifo|run.fifo: a named pipe", bad="hang")
def _(t):
    return call("train.snapshot:main", [str(t.fifo("run.fifo")), "--out", str(t.out / "snap")], timeout=30)


# ---------------------------------------------------------------- a flag's value is text, not YAML
@case("e34", "evaluation", "--run 007 (a name of digits)", "ok",
      check=lambda t, r: (t.out / "runs/eval/007/metrics.json").is_file())
def _(t):
    return call(EVAL, ["--benchmarks", str(t.inp("p.json", jsonl(pair_rows(2)))), "--backends", "identity",
                       "own_pairs=", f"runs_root={t.out / 'runs'}", f"root_copy={t.out / 'root'}", "--run",
                       "007"])


@case("e35", "evaluation", "--benchmarks naming a set folder called 'on' (YAML reads true)", "ok",
      check=scored(2))
def _(t):
    parallel_set(t, b"teh cat\nteh dog\n", b"the cat\nthe dog\n", name="on")
    return call(EVAL, ["--benchmarks", "on", "--backends", "identity", "own_pairs=",
                       f"runs_root={t.out / 'runs'}",
                       f"root_copy={t.out / 'root'}", "--run", "r1"], cwd=t.inp_dir)


@case("d48", "datagen", "--run 0x1F (YAML reads the integer 31)", "ok",
      check=lambda t, r: (t.out / "runs/data/0x1F/stats.json").is_file())
def _(t):
    return dg(t, "--corpus", "everyday", "--run", "0x1F")


@case("d49", "datagen", "--out ./~ (a folder named ~, not the home folder)", "ok",
      check=lambda t, r: r.out.strip() == "ok", bad="data loss")
def _(t):
    from core.paths import REPO_ROOT, input_path, output_path

    got = (output_path("./~"), input_path("./~"), output_path("~/x"))
    ok = got == (REPO_ROOT / "~", Path("~"), Path.home() / "x")
    return Res(rc=0, out="ok" if ok else f"{got}")


@case("d50", "datagen", "--run on (YAML reads true)", "ok", check=lambda t,
      r: (t.out / "runs/data/on/stats.json").is_file())
def _(t):
    return dg(t, "--corpus", "everyday", "--run", "on")


# ---------------------------------------------------------------- the table as tests
NEEDS = {"base": "tiny_base", "runner": "host_runner"}


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_probe(c: Case, request, tmp_path):
    ctx = Ctx(tmp_path, REPO)
    if "base" in c.needs:
        ctx.base = request.getfixturevalue("tiny_base")
    if "pte" in c.needs:
        ctx.pte = request.getfixturevalue("tiny_pte")["fp32"]
    if "runner" in c.needs:
        ctx.runner = request.getfixturevalue("host_runner")
    res = c.run(ctx)
    got, why = classify(c, res, ctx)
    want = "clear error" if c.expect == "error" else "handled"
    assert got == want, f"{c.id} {c.desc}: {got} ({why})\nstderr: {res.err[-1500:]}"


def test_the_probe_is_large_and_fresh():
    assert len(CASES) >= 200 and len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- the table as a script
def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description="classify every probe case (before/after table)")
    ap.add_argument("--base")
    ap.add_argument("--pte")
    ap.add_argument("--runner")
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    rows = []
    for c in CASES:
        if args.only and not re.match(args.only, c.id):
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"probe-{c.id}-"))
        ctx = Ctx(tmp, REPO, *(Path(a).resolve() if a else None for a in (args.base, args.pte, args.runner)))
        try:
            res = c.run(ctx)
            got, why = classify(c, res, ctx)
        except Exception as exc:  # noqa: BLE001 - the harness itself failed on this case
            got, why = "harness", f"{type(exc).__name__}: {exc}"
        rows.append({"id": c.id, "stage": c.stage, "input": c.desc, "class": got, "why": why})
        print(f"{c.id}\t{c.stage}\t{got}\t{c.desc}\t{why}", flush=True)
        shutil.rmtree(tmp, ignore_errors=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
