"""The noise model: composable corruptions that turn a clean sentence into what people
type on a phone or keyboard. Every rate lives in NoiseConfig (YAML `noise:` block).

Word typos (adjacent key, omission, insertion, transposition, doubled/undoubled letter,
misspelling pattern) fire per eligible word; the others fire per occurrence (space,
comma, "I", apostrophe word) or per sentence (lowercase start, dropped final
punctuation). Protected spans (core.spans: URLs, e-mails, numbers, times, `code`)
are cut out first and never reach a corruption, so they survive byte for byte.
Randomness comes only from the `random.Random` passed in, so a sentence's noise is a
pure function of (seed, sentence index): workers reproduce it exactly."""
from __future__ import annotations

import functools
import math
import random
import re
from dataclasses import dataclass, fields

from core.config import check
from core.spans import mask
from datagen.tables import CHAT_ABBREVIATIONS, COMMON_MISSPELLINGS, NEIGHBOURS, PATTERNS, REAL_WORD
from datagen.text import ABBREVIATIONS as TITLE_ABBREVIATIONS

WORD_TYPOS = ("adjacent_key", "omission", "insertion", "transposition", "double_letter",
              "undouble_letter", "misspelling")
OTHER_TYPES = ("real_word", "apostrophe", "lowercase_i", "split_word", "merge_words", "shift_space",
               "drop_comma", "lowercase_start", "drop_final_punct", "chat_abbrev", "lowercase_all",
               "drop_inner_punct")
ERROR_TYPES = WORD_TYPOS + OTHER_TYPES


@dataclass
class NoiseConfig:
    clean_share: float = 0.15         # share of pairs left untouched (input == output)
    keep_first_letter: float = 0.985  # people rarely get a word's first letter wrong...
    keep_last_letter: float = 0.86    # ...and less often the last one than the middle
    extra_typo: float = 0.47          # a mistyped word gets another typo (repeats: 3+ edits)
    short_word_typo: float = 0.2      # relative typo chance of words under 4 letters
    # word typos: probability per eligible word (letters only, >= 2 characters)
    adjacent_key: float = 0.018
    omission: float = 0.024
    insertion: float = 0.004
    transposition: float = 0.01 
    double_letter: float = 0.008
    undouble_letter: float = 0.05     # per doubled letter (committee -> comittee)
    misspelling: float = 0.012
    # per occurrence
    real_word: float = 0.03           # per word that has a confusable twin (their/there)
    apostrophe: float = 0.35          # per word with an apostrophe (don't -> dont)
    lowercase_i: float = 0.3          # per pronoun "I" (I, I'm, I'll)
    split_word: float = 0.003         # per word of >= 4 letters (extra space inside)
    merge_words: float = 0.012        # per space between two words (missing space)
    shift_space: float = 0.0          # per space between two words: typed a letter early or late
                                      # ("i am fine" -> "i amf ine", "see you" -> "se eyou"), a thumb slip
    drop_comma: float = 0.3           # per comma
    chat_abbrev: float = 0.0          # per word/phrase with a chat abbreviation (you -> u, please -> pls)
    drop_inner_punct: float = 0.0     # per sentence end inside the text: "fine. I'll" -> "fine i'll"
    # per sentence
    lowercase_start: float = 0.3
    drop_final_punct: float = 0.3
    lowercase_all: float = 0.0        # everything typed in lower case (names, "I", the start)
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
_MAYBE_PROTECTED = re.compile(r"[\d`@]|www\.|://")
_DOUBLED = re.compile(r"([a-z])\1")
_PUNCT_DELETE = str.maketrans({c: None for c in ".,;:!?\"()[]{}-/"})
_ABBREV_RE = re.compile(r"(?<![\w'])(" + "|".join(sorted((re.escape(k) for k in CHAT_ABBREVIATIONS),
                                                        key=len, reverse=True)) + r")(?![\w'])", re.I)
_INNER_END = re.compile(r"(?<=[a-z])([.!?]) ([A-Z])(?=[a-z' ])")  # "fine. I'll", not "U.S. A"
PRONOUN_I = re.compile(r"\bI\b(?:'[a-z]+)?(?!\w)")
APOSTROPHE_RE = re.compile(r"\b[A-Za-z]+'[A-Za-z]+\b")


def _picks(n: int, p: float, rng: random.Random) -> list[int]:
    """Indices in range(n), each chosen with probability p, by geometric skips
    (one draw per chosen index instead of one per index)."""
    if p <= 0.0 or n <= 0:
        return []
    if p >= 1.0:
        return list(range(n))
    lp = math.log1p(-p)
    out = []
    i = int(math.log(1.0 - rng.random()) / lp)
    while i < n:
        out.append(i)
        i += 1 + int(math.log(1.0 - rng.random()) / lp)
    return out


def _offset(tokens: list[str], i: int) -> int:
    """Character offset of tokens[i] in " ".join(tokens)."""
    return sum(map(len, tokens[:i])) + i


def _pos(w: str, rng: random.Random, keep: tuple[float, float], lo: int = 0, hi: int | None = None) -> int:
    """A position in [lo, hi) that avoids the first index with probability keep[0] and
    the last with probability keep[1] (real misspellings sit mostly mid-word)."""
    hi = len(w) if hi is None else hi
    if hi - lo > 1 and lo == 0 and rng.random() < keep[0]:
        lo = 1
    if hi - lo > 1 and rng.random() < keep[1]:
        hi -= 1
    return rng.randrange(lo, hi) if hi > lo else lo


@functools.lru_cache(maxsize=1 << 16)
def _pattern_options(lw: str) -> tuple[tuple[str, str], ...]:
    """The misspelling patterns that apply to a word (after its first letter); cached
    because word frequencies are Zipfian."""
    tail = lw[1:]
    return tuple((a, b) for a, b in PATTERNS if a in tail)


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
        self.keep = (cfg.keep_first_letter, cfg.keep_last_letter)

    # ---- word typos: each returns the changed word or None when it does not apply ----
    def _adjacent_key(self, w, rng):
        i = _pos(w, rng, self.keep)
        c = w[i]
        near = NEIGHBOURS.get(c.lower())
        if not near:
            return None
        n = rng.choice(near)
        return w[:i] + (n.upper() if c.isupper() else n) + w[i + 1:]

    def _omission(self, w, rng):
        if len(w) < 3:
            return None
        i = _pos(w, rng, self.keep)
        return w[:i] + w[i + 1:]

    def _insertion(self, w, rng):
        i = _pos(w, rng, self.keep)
        near = NEIGHBOURS.get(w[i].lower())
        if not near:
            return None
        j = i + rng.randrange(2)  # the stray key lands before or after its neighbour
        return w[:j] + rng.choice(near) + w[j:]

    def _transposition(self, w, rng):
        i = _pos(w, rng, self.keep, 0, len(w) - 1)
        if w[i] == w[i + 1]:
            return None
        return w[:i] + w[i + 1] + w[i] + w[i + 2:]

    def _double_letter(self, w, rng):
        i = _pos(w, rng, self.keep)
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
        options = _pattern_options(lw)
        if not options:
            return None
        a, b = rng.choice(options)
        starts = [m.start() + 1 for m in re.finditer(re.escape(a), lw[1:])]
        i = rng.choice(starts)
        return _keep_case(lw[:i] + b + lw[i + len(a):], w) if w[1:].islower() else w[:i] + b + w[i + len(a):]

    # ---- a segment: choose edits on the original text, then apply them ----
    # Why this shape: a Python call per word is the cost that matters at 500k pairs, so
    # words to corrupt are drawn by geometric skips and special words (their, don't, I,
    # doubled letters) are found by C-level regex scans; only chosen spots reach Python.
    def _edits(self, piece: str, rng: random.Random) -> list[tuple[int, int, str, str]]:
        """(start, end, replacement, error type) on `piece`, highest priority first."""
        cfg, edits = self.cfg, []
        tokens = piece.split(" ")
        if cfg.chat_abbrev:  # first: a whole word or phrase swapped wins over a typo inside it
            for m in _ABBREV_RE.finditer(piece):
                if rng.random() < cfg.chat_abbrev:
                    edits.append((m.start(), m.end(), rng.choice(CHAT_ABBREVIATIONS[m.group().lower()]),
                                  "chat_abbrev"))
        # picking tokens with probability p and keeping the confusable ones is the same as
        # "p per confusable word", at one draw per pick instead of a scan of every token
        for i in _picks(len(tokens), cfg.real_word, rng):
            twins = REAL_WORD.get(tokens[i].lower().translate(_PUNCT_DELETE))
            m = WORD_RE.search(tokens[i]) if twins else None
            if m:
                at = _offset(tokens, i) + m.start()
                edits.append((at, at + len(m.group()), _keep_case(rng.choice(twins), m.group()), "real_word"))
        if cfg.apostrophe and "'" in piece:  # before "i": "I'm" -> "im" (or "Im") is one edit
            for m in APOSTROPHE_RE.finditer(piece):
                if rng.random() < cfg.apostrophe:
                    word, kinds = m.group().replace("'", ""), "apostrophe"
                    if word[:1] == "I" and m.group()[1:2] == "'" and rng.random() < cfg.lowercase_i:
                        word, kinds = "i" + word[1:], "apostrophe+lowercase_i"
                    edits.append((m.start(), m.end(), word, kinds))
        if cfg.lowercase_i and ("I " in piece or "I'" in piece or piece[-1:] == "I"):
            for m in PRONOUN_I.finditer(piece):
                if rng.random() < cfg.lowercase_i:
                    edits.append((m.start(), m.start() + 1, "i", "lowercase_i"))
        if cfg.undouble_letter:
            for m in _DOUBLED.finditer(piece):
                if rng.random() < cfg.undouble_letter:
                    edits.append((m.start(), m.start() + 1, "", "undouble_letter"))
        # one geometric walk over the tokens for the three per-token kinds together
        typo, split = self.typo_rate, cfg.split_word
        p = typo + split + cfg.merge_words + cfg.shift_space
        for i in _picks(len(tokens), p, rng):
            x = rng.random() * p
            if x < typo:
                self._typo_edit(tokens, i, rng, edits)
            elif x < typo + split:
                m = WORD_RE.search(tokens[i])
                if m and m.end() - m.start() >= 4:
                    at = _offset(tokens, i) + m.start() + rng.randrange(2, m.end() - m.start() - 1)
                    edits.append((at, at, " ", "split_word"))
            elif i + 1 < len(tokens) and x < typo + split + cfg.merge_words:  # token i + the next one
                at = _offset(tokens, i + 1) - 1
                if piece[at - 1:at].isalpha() and piece[at + 1:at + 2].isalpha():
                    edits.append((at, at + 1, "", "merge_words"))
            elif i + 1 < len(tokens):
                _shift_space(piece, _offset(tokens, i + 1) - 1, rng, edits)
        if cfg.drop_inner_punct and ("." in piece or "?" in piece or "!" in piece):
            for m in _INNER_END.finditer(piece):
                if piece[:m.start()].rsplit(" ", 1)[-1] in TITLE_ABBREVIATIONS:
                    continue  # "Dr. Patel" ends no sentence
                if rng.random() < cfg.drop_inner_punct:  # the mark goes, the next capital mostly too
                    low = m.group(2).lower() if m.group(2) != "I" and rng.random() < 0.85 else m.group(2)
                    edits.append((m.start(), m.end(), " " + low, "drop_inner_punct"))
        if cfg.drop_comma and "," in piece:
            at = piece.find(",")
            while at >= 0:
                if rng.random() < cfg.drop_comma:
                    edits.append((at, at + 1, "", "drop_comma"))
                at = piece.find(",", at + 1)
        return edits

    def _typo_edit(self, tokens, i, rng, edits) -> None:
        tok = tokens[i]
        # short words are spared most of the time: decide before any regex work
        if len(tok) < 4 and (len(tok) < 2 or rng.random() >= self.cfg.short_word_typo):
            return
        m = WORD_RE.search(tok)
        if not m or m.end() - m.start() < 2 or not self.kinds:
            return
        w = new = m.group()
        if len(w) < 4 <= len(tok) and rng.random() >= self.cfg.short_word_typo:
            return
        kinds = []
        while True:  # one typo, then more with probability extra_typo each
            kind = self._kind(rng)
            changed = self.fns[kind](new, rng)
            if changed is not None and changed != new:
                new = changed
                kinds.append(kind)
            if len(kinds) >= 4 or len(new) < 2 or rng.random() >= self.cfg.extra_typo:
                break
        if kinds and new != w:
            at = _offset(tokens, i) + m.start()
            edits.append((at, at + len(w), new, "+".join(kinds)))

    def _kind(self, rng: random.Random) -> str:
        x = rng.random() * self.typo_rate
        for kind, edge in zip(self.kinds, self.cum):
            if x < edge:
                return kind
        return self.kinds[-1]

    def _segment(self, piece: str, rng: random.Random, errors: list[str]) -> str:
        edits = self._edits(piece, rng)
        if not edits:
            return piece
        taken: list[tuple[int, int, str, str]] = []
        for e in edits:  # earlier (higher priority) edits win where two overlap
            if all(e[1] <= t[0] or e[0] >= t[1] if e[0] != e[1] else not t[0] < e[0] < t[1] for t in taken):
                taken.append(e)
        taken.sort(key=lambda e: (e[0], e[1]))
        out, pos = [], 0
        for a, b, rep, kind in taken:
            out.append(piece[pos:a])
            out.append(rep)
            pos = b
            errors.extend(kind.split("+"))
        out.append(piece[pos:])
        return "".join(out)

    def corrupt(self, text: str, rng: random.Random) -> tuple[str, list[str]]:
        """One pass of every corruption over `text` (may leave it unchanged)."""
        errors: list[str] = []
        segs = mask(text) if _MAYBE_PROTECTED.search(text) else [(text, False)]
        out = [p if prot else self._segment(p, rng, errors) for p, prot in segs]
        cfg = self.cfg
        if cfg.lowercase_all and rng.random() < cfg.lowercase_all:
            low = [p if prot else o.lower() for o, (p, prot) in zip(out, segs)]
            if low != out:
                errors.append("lowercase_all")
                out = low
        if not segs[0][1] and out[0][:1].isupper() and not out[0][1:2].isupper() \
                and rng.random() < cfg.lowercase_start:
            errors.append("lowercase_start")
            out[0] = out[0][0].lower() + out[0][1:]
        if not segs[-1][1] and out[-1][-1:] in (".", "!", "?") and rng.random() < cfg.drop_final_punct:
            errors.append("drop_final_punct")
            out[-1] = out[-1][:-1].rstrip()
        return "".join(out), errors

    def __call__(self, text: str, rng: random.Random,
                 clean_share: float | None = None) -> tuple[str, list[str]]:
        """A training pair's input: clean with probability clean_share (the config's unless
        given), else at least one change when the sentence allows (up to 6 draws)."""
        if rng.random() < (self.cfg.clean_share if clean_share is None else clean_share):
            return text, []
        for _ in range(6):
            noisy, errors = self.corrupt(text, rng)
            if noisy != text:
                return noisy, errors
        return text, []


def sentence_rng(seed: int, index: int) -> random.Random:
    """The RNG of sentence (or source unit) `index`: depends only on (seed, index),
    never on the worker that runs it."""
    return random.Random(seed * 1_000_003 + index)


def _shift_space(piece: str, at: int, rng: random.Random, edits: list) -> None:
    """The space at `at` typed one letter late ("amf ine") or early ("thanky ou"): only between two
    words of letters that keep 3+ letters each and never next to another moved space. (Shorter
    fragments are real words the guard may not let a model join back: "att he" -> "at he".)"""
    left, right = piece[:at].rsplit(" ", 1)[-1], piece[at + 1:].split(" ", 1)[0]
    lo, hi = at - len(left) - 2, at + len(right) + 2  # the two words and the spaces around them
    if not (left.isalpha() and right.isalpha()) or any(t == "shift_space" and lo <= a <= hi
                                                       for a, _, _, t in edits):
        return
    late = rng.random() < 0.5
    if late and len(right) >= 4:
        edits.append((at, at + 2, piece[at + 1] + " ", "shift_space"))
    elif not late and len(left) >= 4:
        edits.append((at - 1, at + 1, " " + piece[at - 1], "shift_space"))
