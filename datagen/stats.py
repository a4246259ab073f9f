"""Per-run statistics (stats.json): pairs per source and split, error-type histogram,
character error rate distribution, share of clean pairs, and every drop counted."""
from __future__ import annotations

import bisect
from collections import Counter

from rapidfuzz.distance import Levenshtein

CER_EDGES = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


def cer(inp: str, out: str) -> float:
    return Levenshtein.distance(inp, out) / max(1, len(out))


class Stats:
    def __init__(self) -> None:
        self.split = Counter()
        self.clean = Counter()
        self.per_source: dict[str, Counter] = {}
        self.unshaped = Counter()  # per source: references not starting with a capital or ending . ! ?
        self.error_pairs = Counter()    # pairs with at least one error of a type
        self.error_events = Counter()   # every occurrence
        self.errors_per_pair = Counter()
        self.cer_hist = Counter()
        self.cers: list[float] = []
        self.dropped = Counter()
        self.notes: list[str] = []

    def add(self, split: str, source: str, is_clean: bool, errors: list[str], c: float,
            shaped: bool = True) -> None:
        self.split[split] += 1
        per = self.per_source.get(source)
        if per is None:
            per = self.per_source[source] = Counter()
        per[split] += 1
        if not shaped:  # a reference that is no capitalised, punctuated sentence (messages.is_sentence)
            self.unshaped[source] += 1
        if is_clean:
            self.clean[split] += 1
        events, pairs = self.error_events, self.error_pairs
        for e in errors:
            events[e] += 1
        for e in set(errors):
            pairs[e] += 1
        self.errors_per_pair[min(len(errors), 6)] += 1
        self.cers.append(c)
        self.cer_hist[bisect.bisect_left(CER_EDGES, c)] += 1

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def note(self, notes: list[str], limit: int = 50) -> None:
        self.notes.extend(notes[: max(0, limit - len(self.notes))])

    def to_dict(self) -> dict:
        n = sum(self.split.values())
        cers = sorted(self.cers)
        q = (lambda p: round(cers[min(len(cers) - 1, int(p * len(cers)))], 4)) if cers else (lambda p: 0.0)
        return {
            "pairs": {"train": self.split["train"], "eval": self.split["eval"]},
            "share_clean": {k: round(self.clean[k] / v, 4) for k, v in self.split.items() if v},
            "pairs_per_source": {s: dict(c) for s, c in sorted(self.per_source.items())},
            # the share of each source's references that are not whole sentences: a corrector trained
            # on many learns to leave a lower-case start and a missing full stop alone
            "unshaped_reference_share": {s: round(self.unshaped[s] / max(1, sum(c.values())), 4)
                                         for s, c in sorted(self.per_source.items())},
            "error_types": {"pairs_with": dict(self.error_pairs.most_common()),
                            "occurrences": dict(self.error_events.most_common())},
            "errors_per_pair": {str(k) if k < 6 else "6+": v
                                for k, v in sorted(self.errors_per_pair.items())},
            "cer": {"mean": round(sum(cers) / n, 4) if n else 0.0, "p50": q(0.5), "p90": q(0.9),
                    "p99": q(0.99), "max": round(cers[-1], 4) if cers else 0.0,
                    "histogram": {name: self.cer_hist[i] for i, name in enumerate(_bucket_names())
                                  if self.cer_hist[i]}},
            "dropped": dict(sorted(self.dropped.items())),
            "skipped_lines": self.notes,
        }


def _bucket_names() -> list[str]:
    """Names of the bisect_left(CER_EDGES, c) buckets: 0 exactly, then (a, b], then beyond."""
    names = ["0"]
    for a, b in zip(CER_EDGES, CER_EDGES[1:]):
        names.append(f"({a}, {b}]")
    names.append(f"> {CER_EDGES[-1]}")
    return names
