"""The noise model: composable corruptions that turn a clean sentence into what people
type on a phone or keyboard. Every rate lives in NoiseConfig (YAML `noise:` block).

Word typos (adjacent key, omission, insertion, transposition, doubled/undoubled letter,
misspelling pattern) fire per eligible word; the others fire per occurrence (space,
comma, "I", apostrophe word) or per sentence (lowercase start, dropped final
punctuation). Protected spans (train.spans: URLs, e-mails, numbers, times, `code`)
are cut out first and never reach a corruption, so they survive byte for byte.
Randomness comes only from the `random.Random` passed in, so a sentence's noise is a
pure function of (seed, sentence index): workers reproduce it exactly."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, fields

from train.config import check
from train.data.tables import COMMON_MISSPELLINGS, NEIGHBOURS, PATTERNS, REAL_WORD
from train.spans import mask

WORD_TYPOS = ("adjacent_key", "omission", "insertion", "transposition", "double_letter",
              "undouble_letter", "misspelling")
OTHER_TYPES = ("real_word", "apostrophe", "lowercase_i", "split_word", "merge_words",
               "drop_comma", "lowercase_start", "drop_final_punct")
ERROR_TYPES = WORD_TYPOS + OTHER_TYPES


@dataclass
class NoiseConfig:
    clean_share: float = 0.15         # share of pairs left untouched (input == output)
    keep_first_letter: float = 0.93   # people rarely get a word's first letter wrong
    # word typos: probability per eligible word (letters only, >= 2 characters)
    adjacent_key: float = 0.018
    omission: float = 0.016
    insertion: float = 0.008
    transposition: float = 0.007
    double_letter: float = 0.004
    undouble_letter: float = 0.05     # per word that has a doubled letter
    misspelling: float = 0.02
    # per occurrence
    real_word: float = 0.03           # per word that has a confusable twin (their/there)
    apostrophe: float = 0.35          # per word with an apostrophe (don't -> dont)
    lowercase_i: float = 0.3          # per pronoun "I" (I, I'm, I'll)
    split_word: float = 0.003         # per word of >= 4 letters (extra space inside)
    merge_words: float = 0.012        # per space between two words (missing space)
    drop_comma: float = 0.3           # per comma
    # per sentence
    lowercase_start: float = 0.3
    drop_final_punct: float = 0.3
    misspellings_path: str = ""       # optional real misspelling lists (.dat files or folder)
    real_misspelling_share: float = 0.5  # of `misspelling` errors, taken from those lists

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float):
                check(0.0 <= v <= 1.0, f"noise.{f.name} must be a rate in [0, 1], got {v}")
        check(sum(getattr(self, t) for t in WORD_TYPOS if t != "undouble_letter") <= 1.0,
              "noise: the word typo rates must sum to at most 1")


WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")
GAP_RE = re.compile(r"(?<=[A-Za-z]) (?=[A-Za-z])")
_MAYBE_PROTECTED = re.compile(r"[\d`@]|www\.|://")
_DOUBLED = re.compile(r"([a-z])\1")


def _pos(w: str, rng: random.Random, keep_first: float, lo: int = 0, hi: int | None = None) -> int:
    """A position in [lo, hi) that avoids index 0 with probability `keep_first`."""
    hi = len(w) if hi is None else hi
    if hi - lo <= 1:
        return lo
    if lo == 0 and rng.random() < keep_first:
        lo = 1
    return rng.randrange(lo, hi)


def _keep_case(new: str, old: str) -> str:
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class Noiser:
    """Applies NoiseConfig to sentences; `__call__(text, rng) -> (noisy, error types)`."""

    def __init__(self, cfg: NoiseConfig, real_misspellings: dict[str, list[str]] | None = None):
        self.cfg = cfg
        self.real = real_misspellings or {}
        self.kinds = [t for t in WORD_TYPOS if t != "undouble_letter" and getattr(cfg, t) > 0]
        self.cum, total = [], 0.0
        for t in self.kinds:
            total += getattr(cfg, t)
            self.cum.append(total)
        self.typo_rate = total
        self.fns = {t: getattr(self, "_" + t) for t in WORD_TYPOS}

    # ---- word typos: each returns the changed word or None when it does not apply ----
    def _adjacent_key(self, w, rng):
        i = _pos(w, rng, self.cfg.keep_first_letter)
        c = w[i]
        near = NEIGHBOURS.get(c.lower())
        if not near:
            return None
        n = rng.choice(near)
        return w[:i] + (n.upper() if c.isupper() else n) + w[i + 1:]

    def _omission(self, w, rng):
        if len(w) < 3:
            return None
        i = _pos(w, rng, self.cfg.keep_first_letter)
        return w[:i] + w[i + 1:]

    def _insertion(self, w, rng):
        i = _pos(w, rng, self.cfg.keep_first_letter)
        near = NEIGHBOURS.get(w[i].lower())
        if not near:
            return None
        j = i + rng.randrange(2)  # the stray key lands before or after its neighbour
        return w[:j] + rng.choice(near) + w[j:]

    def _transposition(self, w, rng):
        i = _pos(w, rng, self.cfg.keep_first_letter, 0, len(w) - 1)
        if w[i] == w[i + 1]:
            return None
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]

    def _double_letter(self, w, rng):
        i = _pos(w, rng, self.cfg.keep_first_letter)
        if not w[i].isalpha() or w[i] in "aeiouy" and rng.random() < 0.7:
            return None  # doubled vowels are rarer than doubled consonants
        return w[:i + 1] + w[i] + w[i + 1:]

    def _undouble_letter(self, w, rng):
        spots = [m.start() for m in _DOUBLED.finditer(w.lower())]
        if not spots:
            return None
        i = rng.choice(spots)
        return w[:i] + w[i + 1:]

    def _misspelling(self, w, rng):
        lw = w.lower()
        real = self.real.get(lw)
        if real and rng.random() < self.cfg.real_misspelling_share:
            return _keep_case(rng.choice(real), w)
        common = COMMON_MISSPELLINGS.get(lw)
        if common and rng.random() < 0.5:
            return _keep_case(rng.choice(common), w)
        options = [(a, b) for a, b in PATTERNS if a in lw[1:]]  # keep the first letter
        if not options:
            return None
        a, b = rng.choice(options)
        starts = [m.start() + 1 for m in re.finditer(re.escape(a), lw[1:])]
        i = rng.choice(starts)
        return _keep_case(lw[:i] + b + lw[i + len(a):], w) if w[1:].islower() else w[:i] + b + w[i + len(a):]

    # ---- per word: real-word swap, apostrophe, "i", one typo, split ----
    def _word(self, w: str, rng: random.Random, errors: list[str]) -> str:
        cfg = self.cfg
        twins = REAL_WORD.get(w.lower())
        if twins and rng.random() < cfg.real_word:
            errors.append("real_word")
            return _keep_case(rng.choice(twins), w)
        if "'" in w and rng.random() < cfg.apostrophe:
            errors.append("apostrophe")
            w = w.replace("'", "")
        if (w == "I" or w[:2] == "I'") and rng.random() < cfg.lowercase_i:
            errors.append("lowercase_i")
            return "i" + w[1:]
        if len(w) >= 2:
            w = self._typo(w, rng, errors)
        if cfg.split_word and len(w) >= 4 and rng.random() < cfg.split_word:
            i = rng.randrange(2, len(w) - 1)
            errors.append("split_word")
            w = w[:i] + " " + w[i:]
        return w

    def _typo(self, w: str, rng: random.Random, errors: list[str]) -> str:
        if self.cfg.undouble_letter and _DOUBLED.search(w.lower()) and rng.random() < self.cfg.undouble_letter:
            errors.append("undouble_letter")
            return self._undouble_letter(w, rng)
        x = rng.random()
        if x >= self.typo_rate:
            return w
        for kind, edge in zip(self.kinds, self.cum):
            if x < edge:
                new = self.fns[kind](w, rng)
                if new is not None and new != w:
                    errors.append(kind)
                    return new
                return w
        return w

    def _segment(self, piece: str, rng: random.Random, errors: list[str]) -> str:
        cfg = self.cfg
        if cfg.merge_words and " " in piece:
            def merge(m):
                if rng.random() < cfg.merge_words:
                    errors.append("merge_words")
                    return ""
                return " "
            piece = GAP_RE.sub(merge, piece)
        piece = WORD_RE.sub(lambda m: self._word(m.group(), rng, errors), piece)
        if cfg.drop_comma and "," in piece:
            def comma(m):
                if rng.random() < cfg.drop_comma:
                    errors.append("drop_comma")
                    return ""
                return ","
            piece = re.sub(",", comma, piece)
        return piece

    def corrupt(self, text: str, rng: random.Random) -> tuple[str, list[str]]:
        """One pass of every corruption over `text` (may leave it unchanged)."""
        errors: list[str] = []
        segs = mask(text) if _MAYBE_PROTECTED.search(text) else [(text, False)]
        out = [p if prot else self._segment(p, rng, errors) for p, prot in segs]
        cfg = self.cfg
        if not segs[0][1] and out[0][:1].isupper() and not out[0][1:2].isupper() \
                and rng.random() < cfg.lowercase_start:
            errors.append("lowercase_start")
            out[0] = out[0][0].lower() + out[0][1:]
        if not segs[-1][1] and out[-1][-1:] in (".", "!", "?") and rng.random() < cfg.drop_final_punct:
            errors.append("drop_final_punct")
            out[-1] = out[-1][:-1].rstrip()
        return "".join(out), errors

    def __call__(self, text: str, rng: random.Random) -> tuple[str, list[str]]:
        """A training pair's input: clean with probability clean_share, else at least one
        change when the sentence allows (up to 6 draws)."""
        if rng.random() < self.cfg.clean_share:
            return text, []
        for _ in range(6):
            noisy, errors = self.corrupt(text, rng)
            if noisy != text:
                return noisy, errors
        return text, []


def sentence_rng(seed: int, index: int) -> random.Random:
    """The RNG of sentence `index`: depends only on (seed, index), never on the worker."""
    return random.Random(seed * 1_000_003 + index)
