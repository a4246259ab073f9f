"""Realism report: how do the noise model's word-level edits compare with real human
misspellings? Prints a side-by-side table (generated vs each real list vs all lists)
of edit-type shares, edits per misspelled word and where in the word edits fall.

    python -m datagen.realism --misspellings ../shared/data/misspellings [--corpus PATH] [key=value ...]
"""
from __future__ import annotations

import argparse
import difflib
import itertools
import re
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
from datagen.tables import CHAT_ABBREVIATIONS
from datagen.text import normalize, reject_reason, split_sentences

_ABBREVS = frozenset(a for v in CHAT_ABBREVIATIONS.values() for a in v)
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
            if tag == "replace" and i2 - i1 == j2 - j1:  # chat abbreviations are no misspellings
                out += [(x, y) for x, y in zip(a[i1:i2], b[j1:j2])
                        if x.isalpha() and y.isalpha() and y not in _ABBREVS]
    return out


def _words(text: str) -> list[str]:
    return [t.strip(".,;:!?\"'()").lower() for t in text.split()]


def sentences_from(cfg: DataConfig, limit: int, sources: list | None = None) -> list[str]:
    out = []
    for src in cfg.sources if sources is None else sources:
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


def report(misspellings: Path, cfg: DataConfig, sentences: int = 20000, typed: Path | None = None) -> dict:
    """Word edits of each noise profile against the real lists; with messages sources, also
    sentence-level typing habits of the messages profile against `typed` (corrupt/correct
    lines people typed, by default the typed-messages dev set)."""
    real = word_pairs(misspellings)
    columns: dict[str, dict] = {}
    msg_sents: list[str] = []
    for prof, noise in (("prose", cfg.noise), ("messages", cfg.messages_noise)):
        srcs = [s for s in cfg.sources if s.profile == prof]
        if not srcs:
            continue
        sents = sentences_from(cfg, sentences, srcs)
        msg_sents = sents if prof == "messages" else msg_sents
        columns[f"generated {prof}"] = profile(generated_pairs(Noiser(noise), sents, cfg.seed))
    for name, pairs in real.items():
        columns[Path(name).stem] = profile(pairs)
    columns["all real"] = profile(list(itertools.chain.from_iterable(real.values())))
    columns["mean of lists"] = _mean([columns[Path(n).stem] for n in real])
    dist = {f"{g} vs {r}": distance(columns[g], columns[r]) for g in columns if g.startswith("generated")
            for r in ("all real", "mean of lists")}
    out = {"columns": columns, "distance": dist}
    if msg_sents:
        noiser = Noiser(cfg.messages_noise)
        gen = [(noiser(s, sentence_rng(cfg.seed, i))[0], s) for i, s in enumerate(msg_sents)]
        out["typing"] = {"generated messages": typing_habits(gen)}
        typed = typed or TYPED_MESSAGES
        if (typed / "corrupt.txt").is_file():
            pairs = list(zip(*(_lines(typed / f) for f in ("corrupt.txt", "correct.txt"))))
            out["typing"][f"typed: {typed.name}"] = typing_habits(pairs)
    return out


TYPED_MESSAGES = Path(__file__).resolve().parents[1] / "evaluation" / "devsets" / "messages"
_APOS = re.compile(r"\b[A-Za-z]+'[A-Za-z]+\b")


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def typing_habits(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """Sentence-level habits over (typed, clean) pairs that differ: lower-case start, no final
    mark, apostrophes dropped, "i", chat abbreviations, and misspelled words per message."""
    abbrevs = _ABBREVS
    n = apos = apos_dropped = i_ref = i_low = 0
    low = nofinal = abbrev = typos = 0
    for typed, clean in pairs:
        if typed == clean:
            continue
        n += 1
        low += typed[:1].islower()
        nofinal += typed.rstrip()[-1:] not in ".!?"
        t_words = [w.strip(".,;:!?\"()").lower() for w in typed.split()]
        abbrev += any(w in abbrevs for w in t_words)
        for m in _APOS.finditer(clean):
            apos += 1
            apos_dropped += m.group().replace("'", "").lower() in t_words
        i_ref += len(re.findall(r"\bI\b", clean))
        i_low += len(re.findall(r"\bi\b", typed))
        c_words = [w.strip(".,;:!?\"()").lower().replace("'", "") for w in clean.split()]
        t_plain = [w.replace("'", "") for w in t_words]
        typos += sum(1 for a, b in zip(t_plain, c_words) if a != b) if len(t_plain) == len(c_words) else 1
    share = lambda a, b: a / b if b else 0.0  # noqa: E731
    return {"messages": n, "lower-case start": share(low, n), "no final . ! ?": share(nofinal, n),
            "apostrophe dropped": share(apos_dropped, apos), "I typed as i": share(i_low, i_ref),
            "with a chat abbreviation": share(abbrev, n), "misspelled words per message": share(typos, n)}


def typing_table(typing: dict[str, dict]) -> str:
    names = list(typing)
    keys = list(next(iter(typing.values())))
    lines = [f"{'':30}" + "".join(f"{n[:22]:>24}" for n in names), "-" * (30 + 24 * len(names))]
    for k in keys:
        fmt = "{:>23,} " if k == "messages" else "{:>23.2f} " if "per" in k else "{:>23.1%} "
        lines.append(f"{k:30}" + "".join(fmt.format(typing[n][k]) for n in names))
    return "\n".join(lines)


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
    print("\ndistance (L1 over the shares above): "
          + ", ".join(f"{k}: {v:.3f}" for k, v in out["distance"].items()))
    if out.get("typing"):
        print("\nsentence-level typing habits (messages that differ from their reference):")
        print(typing_table(out["typing"]))
    if args.json:
        atomic_write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
