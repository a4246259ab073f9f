"""The no-paraphrase guard: keep a model's output only where it is a correction of the
input, never a rewrite.

    from evaluation.guard import guard
    guard("I tought so", "I thought so")               -> "I thought so"
    guard("I tought so", "Sure! I believed it, yes.")  -> "I tought so"

The input and the output are split into whitespace tokens and aligned (rapidfuzz
Levenshtein opcodes over tokens, then a small DP inside each changed block). Every
aligned unit must be one of: a 1:1 word edit within a bounded edit distance (case is
free), a re-segmentation (up to three words written as up to three others with the word
breaks moved: "some times" -> "sometimes", "ia amfi ne" -> "I am fine"), the expansion
of a listed chat abbreviation ("u" -> "you", "pls" -> "please"; an option), the removal
of a doubled word, or the insertion/removal/change of a short punctuation-only token.
Common short words ("in", "it", "of", ...) never become other words. Anything else
(added or dropped content words, reordering, synonyms, commentary
before or after) is reverted to the input, word by word, keeping the accepted edits.
Protected spans (URLs, e-mails, numbers, code; core/spans.py) stay byte-identical.
Properties (tested with hypothesis): guard(x, x) == x and the guard is idempotent.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz import process
from rapidfuzz.distance import OSA, Levenshtein

from core.config import check
from core.spans import PROTECTED_RE, protected_strings


@dataclass(frozen=True)  # hashable: word costs are cached per (words, config)
class GuardConfig:
    """Thresholds (evaluation/configs/default.yaml, section `guard`)."""
    max_edit_ratio: float = 0.4      # allowed edits per word = ratio * letters in the source word ...
    min_edits: int = 1               # ... but at least this many (for words of >= min_word_len letters)
    max_edits: int = 4               # ... and never more than this
    min_word_len: int = 2            # shorter words (a, I) may only change case
    max_punct_len: int = 3           # punctuation-only tokens / edge punctuation up to this length may change
    allow_merge_split: bool = True   # "some times" -> "sometimes", "ia amfi ne" -> "I am fine"
    max_resegment: int = 3           # ... over at most this many words on either side
    expand_abbreviations: bool = True  # "u" -> "you", "pls" -> "please" (the ABBREVIATIONS table only)
    short_word_len: int = 2          # common words this short (SHORT_WORDS) may only change case
    allow_duplicate_removal: bool = True  # "the the" -> "the"
    max_block_cells: int = 10_000    # a changed block bigger than this (n*m words) is reverted whole
    max_rejected_share: float = 0.5  # more of the input's words than this rejected:
                                     # not a correction, keep the input

    def __post_init__(self) -> None:
        check(0.0 <= self.max_edit_ratio <= 1.0,
              f"guard.max_edit_ratio must be in [0, 1], got {self.max_edit_ratio}")
        check(0 <= self.min_edits <= self.max_edits, "guard: need 0 <= min_edits <= max_edits")
        check(self.min_word_len >= 1, "guard.min_word_len must be >= 1")
        check(self.max_punct_len >= 0, "guard.max_punct_len must be >= 0")
        check(self.max_block_cells >= 1, "guard.max_block_cells must be >= 1")
        check(2 <= self.max_resegment <= 4,
              f"guard.max_resegment must be in [2, 4], got {self.max_resegment}")
        check(0 <= self.short_word_len <= 3,
              f"guard.short_word_len must be in [0, 3], got {self.short_word_len}")
        check(0.0 <= self.max_rejected_share <= 1.0, "guard.max_rejected_share must be in [0, 1]")


DEFAULT = GuardConfig()
# Real words so short that one edit turns them into another real word ("in" -> "on",
# "it" -> "is"): that is a grammar rewrite, not a spelling fix, so they only change case.
SHORT_WORDS = frozenset("a i am an as at be by do go he hi if in is it me my no of oh ok on or so to up "
                        "us we".split())
# Chat abbreviations a user would expect written out. Only these exact expansions pass:
# anything else a model "expands" is a rewrite.
ABBREVIATIONS: dict[str, frozenset[str]] = {k: frozenset(v.split("|")) for k, v in {
    "u": "you", "ur": "your|you're", "r": "are", "k": "ok|okay",
    "pls": "please", "plz": "please", "thx": "thanks", "thnx": "thanks", "tnx": "thanks",
    "ty": "thank you", "tmrw": "tomorrow", "tmr": "tomorrow", "tmw": "tomorrow",
    "b4": "before", "bc": "because", "cuz": "because", "coz": "because", "cos": "because",
    "ppl": "people", "msg": "message", "idk": "I don't know", "btw": "by the way",
    "gr8": "great", "l8r": "later", "abt": "about",
    "wat": "what", "wht": "what", "bday": "birthday", "rn": "right now", "tho": "though",
    "thru": "through", "nite": "night", "becuz": "because", "ya": "you", "yr": "your|year",
}.items()}
_TOKEN_RE = re.compile(r"\S+")
_REJECT = 100.0  # DP cost of one reverted token: alignments keep as many accepted edits as they can


class Unit(NamedTuple):
    """Input tokens [i1, i2) aligned to output tokens [j1, j2)."""
    i1: int
    i2: int
    j1: int
    j2: int


# ---------------------------------------------------------------- tokens and words
def tokenize(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    spans = [m.span() for m in _TOKEN_RE.finditer(text)]
    return [text[a:b] for a, b in spans], spans


@lru_cache(maxsize=65536)
def _is_punct_char(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P")


@lru_cache(maxsize=1 << 16)
def is_punct(tok: str) -> bool:
    """Punctuation-only token (emoji and symbols are content, not punctuation)."""
    return bool(tok) and all(_is_punct_char(c) for c in tok)


@lru_cache(maxsize=1 << 16)
def split_edges(tok: str) -> tuple[str, str, str]:
    """(leading punctuation, core, trailing punctuation)."""
    a, b = 0, len(tok)
    while a < b and _is_punct_char(tok[a]):
        a += 1
    while b > a and _is_punct_char(tok[b - 1]):
        b -= 1
    return tok[:a], tok[a:b], tok[b:]


def allowed_edits(n_chars: int, cfg: GuardConfig = DEFAULT) -> int:
    if n_chars < cfg.min_word_len:
        return 0
    return min(cfg.max_edits, max(cfg.min_edits, int(cfg.max_edit_ratio * n_chars)))


# ---------------------------------------------------------------- unit acceptance
@lru_cache(maxsize=1 << 16)
def _word_cost(src: str, dst: str, cfg: GuardConfig, budget_chars: int | None = None) -> float | None:
    """Edit cost of turning word `src` into `dst`, or None when that is not a correction.
    The edit budget scales with `budget_chars` (default: the letters of src's core)."""
    if src == dst:
        return 0.0
    if is_punct(src) or is_punct(dst):
        ok = is_punct(src) and is_punct(dst) and max(len(src), len(dst)) <= cfg.max_punct_len
        return 0.5 if ok else None
    ps, cs, ss = split_edges(src)
    pd, cd, sd = split_edges(dst)
    for a, b in ((ps, pd), (ss, sd)):
        if a != b and max(len(a), len(b)) > cfg.max_punct_len:
            return None
    d = OSA.distance(cs.lower(), cd.lower())
    if d and budget_chars is None and _short_word(cs, cfg):
        return None
    if d > allowed_edits(len(cs) if budget_chars is None else budget_chars, cfg):
        return None
    return d + (0.1 if cs != cd else 0.0) + 0.1 * ((ps != pd) + (ss != sd))


def _short_word(core: str, cfg: GuardConfig) -> bool:
    return len(core) <= cfg.short_word_len and core.lower() in SHORT_WORDS


def _abbrev_cost(src: str, ys: list[str], cfg: GuardConfig) -> float | None:
    """"u" -> "you", "idk?" -> "I don't know?": a listed expansion, edge punctuation kept."""
    ps, cs, ss = split_edges(src)
    expansions = ABBREVIATIONS.get(cs.lower()) if cfg.expand_abbreviations else None
    if not expansions or any(is_punct(t) for t in ys):
        return None
    pd, _, _ = split_edges(ys[0])
    _, _, sd = split_edges(ys[-1])
    words = " ".join(ys)[len(pd): len(" ".join(ys)) - len(sd)]
    if words.lower() not in {e.lower() for e in expansions}:
        return None
    for a, b in ((ps, pd), (ss, sd)):
        if a != b and max(len(a), len(b)) > cfg.max_punct_len:
            return None
    return 1.0 + 0.5 * (len(ys) - 1)


def _protected_ok(xs: list[str], ys: list[str]) -> bool:
    return protected_strings(" ".join(xs)) == protected_strings(" ".join(ys))


def unit_cost(x: list[str], y: list[str], u: Unit, cfg: GuardConfig = DEFAULT) -> float | None:
    """Cost of an aligned unit, or None when it must be reverted."""
    xs, ys = x[u.i1:u.i2], y[u.j1:u.j2]
    if xs == ys:
        return 0.0
    cost = _shape_cost(x, xs, ys, u, cfg)
    # protected spans last: the regex is the expensive part, most rejected units never get here
    return cost if cost is not None and _protected_ok(xs, ys) else None


def _shape_cost(x: list[str], xs: list[str], ys: list[str], u: Unit, cfg: GuardConfig) -> float | None:
    n, m = len(xs), len(ys)
    if n == 1 and m == 1 and (c := _word_cost(xs[0], ys[0], cfg)) is not None:
        return c
    if n == 0 or m == 0:
        toks = xs or ys
        if all(is_punct(t) and len(t) <= cfg.max_punct_len for t in toks):
            return 0.5 * len(toks)
        if m == 0 and n == 1 and cfg.allow_duplicate_removal and _is_doubled(x, u.i1):
            return 1.0
        return None
    if n == 1 and (c := _abbrev_cost(xs[0], ys, cfg)) is not None:
        return c
    if cfg.allow_merge_split and max(n, m) <= cfg.max_resegment:
        return _resegment_cost(xs, ys, cfg)
    return None


def _breaks(toks: list[str]) -> set[int]:
    """Where the word breaks fall in the tokens written together."""
    out, at = set(), 0
    for t in toks[:-1]:
        at += len(t)
        out.add(at)
    return out


def _resegment_cost(xs: list[str], ys: list[str], cfg: GuardConfig) -> float | None:
    """n words written as m with the breaks moved: "some times" -> "sometimes", "ia amfi ne"
    -> "I am fine". The edit budget is that of the shortest word on the side with more
    words, so no word can hide in it: "not happy" -> "happy" is a dropped word, not a merge."""
    if any(is_punct(t) for t in xs + ys):
        return None
    n, m = len(xs), len(ys)
    if n == m:
        # same count: every break must move (else it is 1:1 edits in disguise), and a
        # common short word must survive ("is it" -> "its it" is not a re-segmentation)
        if _breaks(xs) & _breaks(ys):
            return None
        ys_cores = {split_edges(t)[1].lower() for t in ys}
        if any(_short_word(c, cfg) and c.lower() not in ys_cores for c in (split_edges(t)[1] for t in xs)):
            return None
    many = xs if n >= m else ys
    shorter = min(len(split_edges(t)[1]) for t in many)
    c = _word_cost("".join(xs), "".join(ys), cfg, budget_chars=shorter)
    return None if c is None else c + 0.5 * (n + m - 2)


def _is_doubled(x: list[str], i: int) -> bool:
    core = split_edges(x[i])[1].lower()
    if not core:
        return False
    return any(0 <= k < len(x) and split_edges(x[k])[1].lower() == core for k in (i - 1, i + 1))


# ---------------------------------------------------------------- alignment
_SHAPES = tuple((da, db) for da in range(5) for db in range(5) if (da, db) != (0, 0)
                and (da + db == 1 or (da and db)))


def _block_cost_fn(x: list[str], y: list[str], i1: int, i2: int, j1: int, j2: int, cfg: GuardConfig):
    """DP cost of a unit at block offsets (a, b) with shape (da, db). Word-to-word
    distances come from one rapidfuzz cdist call, so a garbage output (a big block of
    unrelated words) costs a matrix, not thousands of Python-level checks."""
    xe = [split_edges(t) for t in x[i1:i2]]
    ye = [split_edges(t) for t in y[j1:j2]]
    xc, yc = [e[1].lower() for e in xe], [e[1].lower() for e in ye]
    dist = process.cdist(xc, yc, scorer=OSA.distance, workers=1) if xc and yc else None
    budget = [allowed_edits(len(c), cfg) for c in xc]
    abbrev = [cfg.expand_abbreviations and c in ABBREVIATIONS for c in xc]
    memo: dict[tuple[int, int, int, int], float] = {}

    def inner(e, k: int, cnt: int) -> int:
        """Length of cnt neighbours written together, without the outer edge punctuation."""
        total = sum(len(p) + len(c) + len(t) for p, c, t in e[k:k + cnt])
        return total - len(e[k][0]) - len(e[k + cnt - 1][2])

    def hopeless(a: int, b: int, da: int, db: int) -> bool:
        """Length bounds that unit_cost's exact check would reject anyway (OSA >= length gap)."""
        if not (da and db):
            return False
        if da == 1 and abbrev[a]:
            return False
        if da == 1 and db == 1:
            return dist[a][b] > budget[a]
        if max(da, db) > cfg.max_resegment or not cfg.allow_merge_split:
            return True
        short = min(len(e[1]) for e in (xe[a:a + da] if da >= db else ye[b:b + db]))
        return abs(inner(xe, a, da) - inner(ye, b, db)) > allowed_edits(short, cfg)

    def cost(a: int, b: int, da: int, db: int) -> float:
        key = (a if da else -1, b if db else -1, da, db)  # insert/delete costs depend on one side only
        if key not in memo:
            c = None if hopeless(a, b, da, db) else \
                unit_cost(x, y, Unit(i1 + a, i1 + a + da, j1 + b, j1 + b + db), cfg)
            memo[key] = _REJECT * (da + db) if c is None else c
        return memo[key]
    return cost


def _block_units(x: list[str], y: list[str], i1: int, i2: int, j1: int, j2: int,
                 cfg: GuardConfig) -> list[Unit]:
    """Split a changed block into units by a DP that keeps the most acceptable edits."""
    n, m = i2 - i1, j2 - j1
    if n * m > cfg.max_block_cells:  # a wholesale rewrite: delete and insert, reverted below
        return [u for u in (Unit(i1, i2, j1, j1), Unit(i2, i2, j1, j2)) if u.i1 < u.i2 or u.j1 < u.j2]
    cost = _block_cost_fn(x, y, i1, i2, j1, j2, cfg)
    inf = float("inf")
    best = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    best[0][0] = 0.0
    for a in range(n + 1):
        for b in range(m + 1):
            here = best[a][b]
            if here == inf:
                continue
            for da, db in _SHAPES:
                if a + da > n or b + db > m:
                    continue
                c = cost(a, b, da, db)
                if here + c < best[a + da][b + db]:
                    best[a + da][b + db] = here + c
                    back[a + da][b + db] = (da, db)
    units, a, b = [], n, m
    while a or b:
        da, db = back[a][b]
        units.append(Unit(i1 + a - da, i1 + a, j1 + b - db, j1 + b))
        a, b = a - da, b - db
    return units[::-1]


def align(x: list[str], y: list[str], cfg: GuardConfig = DEFAULT) -> list[Unit]:
    """Monotone alignment of token lists into units (equal runs are one unit each)."""
    units: list[Unit] = []
    pending: list[int] | None = None  # a run of adjacent non-equal opcodes, merged
    for op in Levenshtein.opcodes(x, y):
        if op.tag == "equal":
            if pending:
                units += _block_units(x, y, *pending, cfg)
                pending = None
            units.append(Unit(op.src_start, op.src_end, op.dest_start, op.dest_end))
        elif pending is None:
            pending = [op.src_start, op.src_end, op.dest_start, op.dest_end]
        else:
            pending[1], pending[3] = op.src_end, op.dest_end
    if pending:
        units += _block_units(x, y, *pending, cfg)
    return units


# ---------------------------------------------------------------- the guard
def _rebuild(inp: str, out: str, xsp, ysp, units: list[Unit], ok: list[bool]) -> str:
    """Accepted units from the output, the rest from the input, in order."""
    pieces: list[str] = []
    for u, accepted in zip(units, ok):
        src, spans, a, b = (out, ysp, u.j1, u.j2) if accepted else (inp, xsp, u.i1, u.i2)
        if a == b:
            continue
        if pieces:  # the whitespace that preceded this piece where it came from
            sep = src[spans[a - 1][1]:spans[a][0]] if a > 0 else " "
            pieces.append(sep or " ")
        pieces.append(src[spans[a][0]:spans[b - 1][1]])
    lead = inp[: xsp[0][0]] if xsp else inp
    trail = inp[xsp[-1][1]:] if xsp else ""
    return lead + "".join(pieces) + trail


def _touches(spans_idx: set[int], a: int, b: int) -> bool:
    return any(k in spans_idx for k in range(a - 1, b + 1))


def _protected_tokens(text: str, spans: list[tuple[int, int]]) -> set[int]:
    hits = [m.span() for m in PROTECTED_RE.finditer(text)]
    return {k for k, (s, e) in enumerate(spans) if any(a < e and s < b for a, b in hits)}


def _anchor_punct(units: list[Unit], ok: list[bool]) -> list[bool]:
    """A punctuation token may only be added or dropped next to a kept word: when the
    words around it were reverted (a garbage output), the punctuation stays as it was."""
    def anchored(k: int) -> bool:
        u = units[k]
        return ok[k] and u.i1 < u.i2 and u.j1 < u.j2

    out = list(ok)
    for k, u in enumerate(units):
        if ok[k] and (u.i1 == u.i2 or u.j1 == u.j2) and (u.i1 < u.i2 or u.j1 < u.j2):
            out[k] = (k > 0 and anchored(k - 1)) or (k + 1 < len(units) and anchored(k + 1))
    return out


def _guard_once(inp: str, out: str, cfg: GuardConfig) -> str:
    x, xsp = tokenize(inp)
    y, ysp = tokenize(out)
    units = align(x, y, cfg)
    want = protected_strings(inp)  # the spans every accepted result must carry unchanged
    ok = _anchor_punct(units, [unit_cost(x, y, u, cfg) is not None for u in units])
    if sum(u.i2 - u.i1 for u, k in zip(units, ok) if not k) > cfg.max_rejected_share * len(x):
        return inp  # mostly a rewrite: the few words it happens to share are no correction
    result = out if all(ok) else _rebuild(inp, out, xsp, ysp, units, ok)
    if protected_strings(result) == want:
        return result
    # A protected span was altered across unit borders (e.g. "9:30 p.m" -> "9:30 p.m."):
    # revert every unit next to a protected token, and the whole output if that is not enough.
    px, py = _protected_tokens(inp, xsp), _protected_tokens(out, ysp)
    ok = [k and not (_touches(px, u.i1, u.i2) or _touches(py, u.j1, u.j2)) for k, u in zip(ok, units)]
    result = _rebuild(inp, out, xsp, ysp, units, ok)
    return result if protected_strings(result) == want else inp


def guard(input: str, output: str, config: GuardConfig | None = None) -> str:  # noqa: A002 (contract name)
    """`output` where it corrects `input`; the input's words wherever it rewrites them."""
    cfg = config or DEFAULT
    if output == input:
        return output
    current = output
    for _ in range(8):  # iterate to a fixed point so that the guard is idempotent
        nxt = _guard_once(input, current, cfg)
        if nxt == current:
            return current
        current = nxt
    return input  # did not settle: the input is always a fixed point


def paraphrased(input: str, output: str, config: GuardConfig | None = None) -> bool:
    """True when the guard had to change the output."""
    return guard(input, output, config) != output
