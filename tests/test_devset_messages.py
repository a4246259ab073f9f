"""Checks on the hand-written typed-messages dev set (evaluation/devsets/messages; fast tier, no model):
the three files are aligned and well formed, the kinds agree with the pairs, references look
finished, protected spans (core/spans.py, plus @handles, #hashtags and paths) stay byte-identical,
inputs look typed, and no line is copied from an evaluation benchmark in ../shared/data/eval."""
from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from core.spans import protected_spans, protected_strings
from evaluation.eval_sets import load_benchmarks

DEVSET = Path(__file__).resolve().parents[1] / "evaluation" / "devsets" / "messages"
KINDS = {"typo", "clean", "protected"}
CLOSERS = set(".?!\"')]}”’»")
TRAILING_PUNCT = ".,;:!?)]}\"'"


def _lines(name: str) -> list[str]:
    raw = (DEVSET / name).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), f"{name}: starts with a BOM"
    assert b"\r" not in raw and b"\t" not in raw, f"{name}: has CR or tab characters"
    assert raw.endswith(b"\n"), f"{name}: no final newline"
    lines = raw.decode("utf-8").split("\n")[:-1]
    for n, line in enumerate(lines, 1):
        assert line and line == line.strip() and "  " not in line, \
            f"{name}:{n}: empty line, edge or doubled spaces: {line!r}"
    return lines


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str, str]]:
    kinds, corrupt, correct = _lines("kinds.txt"), _lines("corrupt.txt"), _lines("correct.txt")
    assert len(kinds) == len(corrupt) == len(correct), \
        f"not aligned: kinds {len(kinds)}, corrupt {len(corrupt)}, correct {len(correct)} lines"
    assert len(corrupt) >= 300
    return list(zip(kinds, corrupt, correct))


def _marked(line: str) -> list[str]:
    """Tokens core/spans.py does not cover but that must not change: @handles, #hashtags, paths."""
    out = []
    for tok in line.split():
        tok = tok.rstrip(TRAILING_PUNCT)
        if tok.startswith(("@", "#")) or "/" in tok or "\\" in tok:
            out.append(tok)
    return out


def _ends_finished(ref: str) -> bool:
    last = ref.rstrip("\ufe0f")[-1]  # an emoji's variation selector is not the emoji
    return last in CLOSERS or unicodedata.category(last) == "So"


def test_kinds_match_pairs(rows):
    for n, (kind, src, ref) in enumerate(rows, 1):
        assert kind in KINDS, f"line {n}: unknown kind {kind!r}"
        if kind == "clean":
            assert src == ref, f"line {n}: clean but corrupt != correct"
        else:
            assert src != ref, f"line {n}: {kind} but corrupt == correct"
        if kind == "typo":  # anything protected belongs to the `protected` kind
            assert not protected_spans(src) and not _marked(src), f"line {n}: typo line has {src!r}"


def test_no_duplicate_inputs(rows):
    seen: dict[str, int] = {}
    for n, (_, src, _) in enumerate(rows, 1):
        assert src not in seen, f"line {n} repeats line {seen[src]}: {src!r}"
        seen[src] = n


def test_references_look_finished(rows):
    for n, (_, _, ref) in enumerate(rows, 1):
        assert _ends_finished(ref), f"line {n}: reference has no final punctuation: {ref!r}"
        starts_protected = any(a == 0 for a, _ in protected_spans(ref)) or ref.startswith(("@", "#"))
        assert ref[0].isupper() or starts_protected, f"line {n}: reference starts lower-case: {ref!r}"


def test_protected_spans_byte_identical(rows):
    for n, (kind, src, ref) in enumerate(rows, 1):
        if kind != "protected":
            continue
        assert protected_strings(src) == protected_strings(ref), \
            f"line {n}: protected spans differ: {protected_strings(src)} -> {protected_strings(ref)}"
        for tok in _marked(src):
            assert tok in ref, f"line {n}: {tok!r} is not kept in the reference {ref!r}"


def test_inputs_look_typed(rows):
    typed = [src for kind, src, _ in rows if kind != "clean"]
    stopped = sum(src.endswith(".") for src in typed)
    assert stopped <= 0.2 * len(typed), f"{stopped} of {len(typed)} inputs end with a full stop"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def test_not_copied_from_eval_sets(rows, shared_data):
    eval_dir = shared_data / "eval"
    if not eval_dir.is_dir():
        pytest.skip(f"no evaluation sets at {eval_dir}")
    taken = {_norm(t) for b in load_benchmarks(eval_dir) for p in b.pairs for t in (p.input, p.reference)}
    clashes = [line for _, src, ref in rows for line in (src, ref) if _norm(line) in taken]
    assert not clashes, f"lines also in {eval_dir}: {clashes[:5]}"
