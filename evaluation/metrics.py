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
- classes: correction and over-correction split into spelling, case and punctuation
  (`class_counts`); a set whose references fix spelling only (`fixes=("spelling",)`) gets
  its headline figures from the spelling view (lower case, edge punctuation stripped), so
  a right capital or comma the model adds is no wrong edit there, yet shows in the case
  and punctuation columns
Every figure is a corpus-level (micro) ratio; a rate with nothing to count is None.
"""
from __future__ import annotations

import re
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


# ---------------------------------------------------------------- the three classes
CLASSES = ("spelling", "case", "punctuation")
ALL_CLASSES = CLASSES
SPELLING_ONLY = ("spelling",)
CLASS_KEYS = ("wrong", "corrected", "in_ok", "over")
_EDGES = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


def pieces(text: str) -> list[tuple[str, str, str]]:
    """(leading punctuation, word, trailing punctuation) per whitespace token; a token of
    punctuation alone (" - ", a lone "?") joins the trailing punctuation of the word before
    (or the leading punctuation of the first word)."""
    out: list[tuple[str, str, str]] = []
    pending = ""
    for tok in text.split():
        lead, core, trail = _EDGES.match(tok).groups()
        if not core:
            if out:
                out[-1] = (out[-1][0], out[-1][1], out[-1][2] + " " + tok)
            else:
                pending += tok
            continue
        out.append((pending + lead, core, trail))
        pending = ""
    return out


def spelling_view(text: str) -> str:
    """The words alone, lower case: what a spelling-only reference is compared on."""
    return " ".join(core.lower() for _, core, _ in pieces(text))


def _word_pairs(src: list[str], dst: list[str]) -> dict[int, tuple[int, bool]]:
    """dst index -> (src index, same spelling) for the words the Levenshtein alignment pairs:
    equal words, and the words of a one-for-one replacement (a misspelled word)."""
    pairs: dict[int, tuple[int, bool]] = {}
    for op in Levenshtein.opcodes(src, dst):
        same = op.tag == "equal"
        if same or (op.tag == "replace" and op.src_end - op.src_start == op.dest_end - op.dest_start):
            pairs.update((d, (s, same)) for d, s in zip(range(op.dest_start, op.dest_end),
                                                        range(op.src_start, op.src_end)))
    return pairs


def _shape(word: str) -> tuple[bool, bool]:
    """The case of a word whose spelling differs: a capital first letter, all capitals."""
    return word[:1].isupper(), len(word) > 1 and word.isupper()


def class_counts(inp: str, ref: str, out: str) -> dict[str, dict[str, int]]:
    """Per class, the counts behind correction and over-correction rates:
    - spelling: the word metrics over the spelling views (wrong reference words, those the
      output spells right, right input words, those the output breaks);
    - case and punctuation: over the reference words the input and the output have a word
      for (aligned equal, or one for one in a replacement: a misspelling), whether the
      input's case (punctuation around the word) differs from the reference's, and whether
      the output's equals it. Case compares the words where the spelling agrees, else their
      shape (capital first letter, all capitals). A word dropped or split is judged by
      spelling only."""
    pi, pr, po = pieces(inp), pieces(ref), pieces(out)
    si, sr, so = ([c.lower() for _, c, _ in p] for p in (pi, pr, po))
    sp = sample_counts(" ".join(si), " ".join(sr), " ".join(so))
    result = {"spelling": {k: sp[k] for k in CLASS_KEYS}}
    r2i, r2o = _word_pairs(si, sr), _word_pairs(so, sr)
    for cls in ("case", "punctuation"):
        c = dict.fromkeys(CLASS_KEYS, 0)
        for r, (i, _) in r2i.items():
            o = r2o.get(r, (None, False))[0]
            if cls == "case":  # the words themselves where all three agree in spelling, else shapes
                same = si[i] == sr[r] and (o is None or so[o] == sr[r])
                key = (lambda p: p[1]) if same else (lambda p: _shape(p[1]))
            else:
                key = lambda p: (p[0], p[2])  # noqa: E731
            want, have, got = key(pr[r]), key(pi[i]), None if o is None else key(po[o])
            if have == want:
                c["in_ok"] += 1
                c["over"] += got is not None and got != want
            else:
                c["wrong"] += 1
                c["corrected"] += got == want
        result[cls] = c
    return result


def class_metrics(counts: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, Any]]:
    out = {}
    for cls in CLASSES:
        t = {k: sum(c[cls][k] for c in counts) for k in CLASS_KEYS}
        out[cls] = {"correction_rate": _ratio(t["corrected"], t["wrong"]),
                    "over_correction_rate": _ratio(t["over"], t["in_ok"]), **t}
    return out


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
                    errors: list[Any] | None = None, fixes: tuple[str, ...] = ALL_CLASSES) -> dict[str, Any]:
    """Corpus metrics; `paraphrased[i]` marks raw outputs the guard changed,
    `errors[i]` is pair i's recorded errors (for the per-type breakdown), `fixes` what the
    references correct (spelling only: the headline figures are on the spelling view)."""
    if not len(inputs) == len(references) == len(outputs):
        raise ValueError(f"inputs, references and outputs differ in length: "
                         f"{len(inputs)}, {len(references)}, {len(outputs)}")
    unknown = set(fixes) - set(CLASSES)
    if unknown or not fixes:
        raise ValueError(f"fixes must name some of {', '.join(CLASSES)}, got {fixes}")
    view = spelling_view if tuple(fixes) == SPELLING_ONLY else (lambda t: t)
    counts = [sample_counts(view(i), view(r), view(o), case_insensitive)
              for i, r, o in zip(inputs, references, outputs)]
    result = from_counts(_sum(counts), len(counts))
    result["case_insensitive"] = case_insensitive
    result["fixes"] = list(fixes)
    result["exact_match_full"] = _ratio(sum(norm(o, case_insensitive) == norm(r, case_insensitive)
                                            for r, o in zip(references, outputs)), len(outputs))
    result["classes"] = class_metrics([class_counts(i, r, o) for i, r, o in zip(inputs, references, outputs)])
    if paraphrased is not None:
        result["paraphrase_rate"] = _ratio(sum(map(bool, paraphrased)), len(paraphrased))
    if errors is not None and any(e is not None for e in errors):
        groups: dict[str, list[dict[str, int]]] = defaultdict(list)
        for c, errs in zip(counts, errors):
            for name in error_types(errs):
                groups[name].append(c)
        result["by_error_type"] = {k: from_counts(_sum(v), len(v)) for k, v in sorted(groups.items())}
    return result
