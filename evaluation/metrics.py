"""Correction metrics on (input, reference, output) triples with a real word alignment.

Words are whitespace tokens. Two alignments per sample (rapidfuzz Levenshtein opcodes
over word lists): input->reference says which words were wrong, output->reference which
are right after correction; input->output says what the corrector changed.

- exact_match: output == reference (whitespace-normalised)
- word_accuracy: share of reference words the output reproduces (aligned `equal`);
  word_accuracy_before is the same for the input
- correction_rate: share of wrong words (reference words the input misses) that the
  output gets right
- over_correction_rate: share of right input words (aligned equal to the reference)
  that the output changed
- precision / recall / f0_5 on word edits, M2-style: an edit is (start, end,
  replacement words) in input coordinates, found by the guard's unit alignment
  (1:1 words, merges, splits, insertions, deletions); ERRANT's convention for empty
  sets: P = 1 with no proposed edits, R = 1 with no gold edits
- cer_before / cer_after: character Levenshtein distance to the reference over
  reference characters (corpus level)
- paraphrase_rate: share of raw outputs the guard had to change (when given)
- by_error_type: the same figures over the pairs that record each error type
Every figure is a corpus-level (micro) ratio; a rate with nothing to count is None.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

from rapidfuzz.distance import Levenshtein

from evaluation.guard import align

COUNT_KEYS = ("exact", "ref_words", "in_right", "out_right", "wrong", "corrected", "in_ok",
              "over", "tp", "gold", "hyp", "dist_before", "dist_after", "ref_chars", "changed")


def norm(text: str, case_insensitive: bool = False) -> str:
    text = " ".join(text.split())
    return text.lower() if case_insensitive else text


def matched(src: list[str], dst: list[str]) -> tuple[set[int], set[int]]:
    """Indices of src and dst words that the Levenshtein alignment pairs as equal."""
    a: set[int] = set()
    b: set[int] = set()
    for op in Levenshtein.opcodes(src, dst):
        if op.tag == "equal":
            a.update(range(op.src_start, op.src_end))
            b.update(range(op.dest_start, op.dest_end))
    return a, b


def word_edits(src: list[str], dst: list[str]) -> set[tuple[int, int, tuple[str, ...]]]:
    """Word edits turning src into dst: {(start, end, replacement words)}."""
    return {(u.i1, u.i2, tuple(dst[u.j1:u.j2])) for u in align(src, dst)
            if src[u.i1:u.i2] != dst[u.j1:u.j2]}


def format_edits(src: list[str], edits: Iterable[tuple[int, int, tuple[str, ...]]]) -> str:
    """'tought->thought; some times->sometimes; +the; -the' (for the per-sample CSV)."""
    out = []
    for i1, i2, rep in sorted(edits):
        old, new = " ".join(src[i1:i2]), " ".join(rep)
        out.append(f"+{new}" if not old else f"-{old}" if not new else f"{old}->{new}")
    return "; ".join(out)


def sample_counts(inp: str, ref: str, out: str, case_insensitive: bool = False) -> dict[str, int]:
    """The integer counts one triple contributes to the corpus metrics."""
    i, r, o = (norm(t, case_insensitive) for t in (inp, ref, out))
    iw, rw, ow = i.split(), r.split(), o.split()
    in_ok, in_right = matched(iw, rw)
    unchanged, _ = matched(iw, ow)
    _, out_right = matched(ow, rw)
    wrong = set(range(len(rw))) - in_right
    gold, hyp = word_edits(iw, rw), word_edits(iw, ow)
    return {
        "exact": int(o == r), "ref_words": len(rw), "in_right": len(in_right),
        "out_right": len(out_right), "wrong": len(wrong), "corrected": len(wrong & out_right),
        "in_ok": len(in_ok), "over": len(in_ok - unchanged), "tp": len(gold & hyp),
        "gold": len(gold), "hyp": len(hyp), "dist_before": Levenshtein.distance(i, r),
        "dist_after": Levenshtein.distance(o, r), "ref_chars": len(r), "changed": int(o != i),
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def from_counts(c: dict[str, int], n: int) -> dict[str, Any]:
    p = c["tp"] / c["hyp"] if c["hyp"] else 1.0
    r = c["tp"] / c["gold"] if c["gold"] else 1.0
    f = 1.25 * p * r / (0.25 * p + r) if (p + r) else 0.0
    return {
        "n": n,
        "exact_match": _ratio(c["exact"], n),
        "word_accuracy": _ratio(c["out_right"], c["ref_words"]),
        "word_accuracy_before": _ratio(c["in_right"], c["ref_words"]),
        "correction_rate": _ratio(c["corrected"], c["wrong"]),
        "over_correction_rate": _ratio(c["over"], c["in_ok"]),
        "precision": p, "recall": r, "f0_5": f,
        "cer_before": _ratio(c["dist_before"], c["ref_chars"]),
        "cer_after": _ratio(c["dist_after"], c["ref_chars"]),
        "changed_rate": _ratio(c["changed"], n),
        "gold_edits": c["gold"], "proposed_edits": c["hyp"], "true_positives": c["tp"],
    }


def _sum(counts: list[dict[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(COUNT_KEYS, 0)
    for c in counts:
        for k in COUNT_KEYS:
            total[k] += c[k]
    return total


def error_types(errors: Any) -> list[str]:
    """Type names from a pair's `errors` (a list of names or of dicts with "type");
    an empty list marks a clean pair ("none"), None a pair that records nothing."""
    if errors is None:
        return []
    if not errors:
        return ["none"]
    names = [e.get("type", "unknown") if isinstance(e, dict) else str(e) for e in errors]
    return sorted(set(names))


def compute_metrics(inputs: list[str], references: list[str], outputs: list[str],
                    case_insensitive: bool = False, paraphrased: list[bool] | None = None,
                    errors: list[Any] | None = None) -> dict[str, Any]:
    """Corpus metrics; `paraphrased[i]` marks raw outputs the guard changed,
    `errors[i]` is pair i's recorded errors (for the per-type breakdown)."""
    if not len(inputs) == len(references) == len(outputs):
        raise ValueError(f"inputs, references and outputs differ in length: "
                         f"{len(inputs)}, {len(references)}, {len(outputs)}")
    counts = [sample_counts(i, r, o, case_insensitive) for i, r, o in zip(inputs, references, outputs)]
    result = from_counts(_sum(counts), len(counts))
    result["case_insensitive"] = case_insensitive
    if paraphrased is not None:
        result["paraphrase_rate"] = _ratio(sum(map(bool, paraphrased)), len(paraphrased))
    if errors is not None and any(e is not None for e in errors):
        groups: dict[str, list[dict[str, int]]] = defaultdict(list)
        for c, errs in zip(counts, errors):
            for name in error_types(errs):
                groups[name].append(c)
        result["by_error_type"] = {k: from_counts(_sum(v), len(v)) for k, v in sorted(groups.items())}
    return result
