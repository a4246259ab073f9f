"""Realism report: how do the noise model's word-level edits compare with real human
misspellings? Prints a side-by-side table (generated vs each real list vs all lists)
of edit-type shares, edits per misspelled word and where in the word edits fall.

    python -m datagen.realism --misspellings ../shared/data/misspellings [--corpus PATH] [key=value ...]
"""
from __future__ import annotations

import argparse
import difflib
import itertools
import sys
from collections import Counter
from pathlib import Path

from core.cli import run_cli
from core.config import load_config
from core.runs import atomic_write_json
from datagen.config import DataConfig
from datagen.edits import edit_ops, position_bucket
from datagen.misspellings import word_pairs
from datagen.noise import Noiser, sentence_rng
from datagen.sources import expand, source_units
from datagen.text import normalize, reject_reason, split_sentences

ROWS = [("substitution", "sub"), ("deletion", "del"), ("insertion", "ins"), ("transposition", "trans")]


def profile(pairs: list[tuple[str, str]]) -> dict:
    """Edit statistics of (correct, misspelled) word pairs, compared case-insensitively."""
    ops, per_word, where = Counter(), Counter(), Counter()
    words = 0
    for correct, wrong in pairs:
        c, w = correct.lower(), wrong.lower()
        if c == w:
            continue
        e = edit_ops(c, w)
        words += 1
        per_word[min(len(e), 3)] += 1
        for op, pos in e:
            ops[op] += 1
            where[position_bucket(pos, len(c))] += 1
    n_ops = sum(ops.values()) or 1
    n_where = sum(where.values()) or 1
    return {
        "words": words,
        "ops": {name: ops[key] / n_ops for name, key in ROWS},
        "edits_per_word": sum(k * v for k, v in per_word.items()) / max(1, words),
        "edits_hist": {k: per_word[k] / max(1, words) for k in (1, 2, 3)},
        "position": {k: where[k] / n_where for k in ("first", "middle", "last")},
    }


def generated_pairs(noiser: Noiser, sentences: list[str], seed: int) -> list[tuple[str, str]]:
    """(clean word, noisy word) for every word the noise model changed 1:1 (merged and
    split words and case-only changes are left out: the real lists are single words)."""
    out = []
    for i, s in enumerate(sentences):
        noisy, _ = noiser.corrupt(s, sentence_rng(seed, i))
        a, b = _words(s), _words(noisy)
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if tag == "replace" and i2 - i1 == j2 - j1:
                out += [(x, y) for x, y in zip(a[i1:i2], b[j1:j2]) if x.isalpha() and y.isalpha()]
    return out


def _words(text: str) -> list[str]:
    return [t.strip(".,;:!?\"'()").lower() for t in text.split()]


def sentences_from(cfg: DataConfig, limit: int) -> list[str]:
    out = []
    for src in cfg.sources:
        units = (u for block in source_units(src, "skip", cfg.clean.max_line_chars) for u in expand(block))
        for kind, a, _, _ in units:
            if kind in ("text", "sent"):
                text = normalize(a)
                out += [s for s in (split_sentences(text) if kind == "text" else [text])
                        if reject_reason(s, cfg.clean) is None]
            if len(out) >= limit:
                return out[:limit]
    return out


def table(columns: dict[str, dict]) -> str:
    names = list(columns)
    lines = [f"{'':24}" + "".join(f"{n[:14]:>15}" for n in names), "-" * (24 + 15 * len(names))]

    def row(label, fn, fmt="{:>14.1%} "):
        lines.append(f"{label:24}" + "".join(fmt.format(fn(columns[n])) for n in names))

    row("misspelled words", lambda p: p["words"], "{:>14,} ")
    for name, _ in ROWS:
        row(f"{name} share", lambda p, k=name: p["ops"][k])
    row("edits per word (mean)", lambda p: p["edits_per_word"], "{:>14.2f} ")
    for k in (1, 2, 3):
        row(f"words with {k}{'+' if k == 3 else ''} edit{'s' if k > 1 else ''}",
            lambda p, k=k: p["edits_hist"][k])
    for k in ("first", "middle", "last"):
        row(f"edit at {k} letter" if k != "middle" else "edit in the middle", lambda p, k=k: p["position"][k])
    return "\n".join(lines)


def distance(a: dict, b: dict) -> float:
    """One number to tune against: L1 over op shares, 1/2/3+ shares and positions."""
    return (sum(abs(a["ops"][k] - b["ops"][k]) for k in a["ops"])
            + sum(abs(a["edits_hist"][k] - b["edits_hist"][k]) for k in a["edits_hist"])
            + sum(abs(a["position"][k] - b["position"][k]) for k in a["position"]))


def report(misspellings: Path, cfg: DataConfig, sentences: int = 20000) -> dict:
    real = word_pairs(misspellings)
    generated = generated_pairs(Noiser(cfg.noise), sentences_from(cfg, sentences), cfg.seed)
    columns = {"generated": profile(generated)}
    for name, pairs in real.items():
        columns[Path(name).stem] = profile(pairs)
    columns["all real"] = profile(list(itertools.chain.from_iterable(real.values())))
    columns["mean of lists"] = _mean([columns[Path(n).stem] for n in real])
    gen = columns["generated"]
    return {"columns": columns, "distance": {"all real": distance(gen, columns["all real"]),
                                             "mean of lists": distance(gen, columns["mean of lists"])}}


def _mean(profiles: list[dict]) -> dict:
    """Each list weighted equally, so Birkbeck's 36k children's errors do not drown the rest."""
    def avg(get):
        return sum(get(p) for p in profiles) / len(profiles)
    first = profiles[0]
    return {"words": sum(p["words"] for p in profiles),
            "ops": {k: avg(lambda p, k=k: p["ops"][k]) for k in first["ops"]},
            "edits_per_word": avg(lambda p: p["edits_per_word"]),
            "edits_hist": {k: avg(lambda p, k=k: p["edits_hist"][k]) for k in first["edits_hist"]},
            "position": {k: avg(lambda p, k=k: p["position"][k]) for k in first["position"]}}


def main(argv: list[str] | None = None) -> int:
    from datagen.generate_typos import DEFAULT_CONFIG, corpus_source

    ap = argparse.ArgumentParser(prog="python -m datagen.realism", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--misspellings", required=True, help="folder or file of real misspelling lists")
    ap.add_argument("--config", default=str(DEFAULT_CONFIG))
    ap.add_argument("--corpus", help="clean text to noise (default: the config's sources)")
    ap.add_argument("--sentences", type=int, default=20000, help="sentences to noise (default %(default)s)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("overrides", nargs="*", metavar="key=value",
                    help="config overrides, e.g. noise.omission=0.02")
    args = ap.parse_intermixed_args(argv)
    return run_cli(lambda: _run(args, corpus_source))


def _run(args: argparse.Namespace, corpus_source) -> int:
    extra = [f"sources=[{corpus_source(args.corpus)}]"] if args.corpus else []
    cfg = load_config(DataConfig, args.config, extra + args.overrides)
    out = report(Path(args.misspellings), cfg, args.sentences)
    print(table(out["columns"]))
    print("\ndistance of generated (L1 over the shares above): "
          + ", ".join(f"vs {k}: {v:.3f}" for k, v in out["distance"].items()))
    if args.json:
        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
