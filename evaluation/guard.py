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
Common short words ("in", "it", "of", ...) never become other words. Meaning is kept:
negations (NEGATIONS, any "n't") and number words (NUMBER_WORDS) are neither added, dropped
nor changed, except a misspelt word (not an English word) written as the negation or number
it is a typo of ("nto" -> "not", "thre" -> "three"); no letter changes script ("paypal"
with a Cyrillic "а" is refused). Anything else (added or dropped content words, reordering,
synonyms, commentary before or after) is reverted to the input, word by word, keeping the
accepted edits. Protected spans (URLs, e-mails, numbers, code; core/spans.py) stay
byte-identical. Tokens longer than `max_word_chars` only pass unchanged, and inputs longer
than `align_window` tokens are aligned window by window, so the guard is linear in the
input's length. Properties (tested with hypothesis): guard(x, x) == x and the guard is
idempotent.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
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
    max_word_chars: int = 64         # a token longer than this only passes unchanged (no OSA on huge tokens)
    align_window: int = 2048         # longer inputs/outputs (tokens) are aligned window by window
    max_rejected_share: float = 0.5  # more of the input's words than this rejected:
                                     # not a correction, keep the input
    add_exclamation: bool = False    # off: a '!' in an input that has none becomes '.' (calm)

    def __post_init__(self) -> None:
        check(0.0 <= self.max_edit_ratio <= 1.0,
              f"guard.max_edit_ratio must be in [0, 1], got {self.max_edit_ratio}")
        check(0 <= self.min_edits <= self.max_edits, "guard: need 0 <= min_edits <= max_edits")
        check(self.min_word_len >= 1, "guard.min_word_len must be >= 1")
        check(self.max_punct_len >= 0, "guard.max_punct_len must be >= 0")
        check(self.max_block_cells >= 1, "guard.max_block_cells must be >= 1")
        check(self.max_word_chars >= 1, "guard.max_word_chars must be >= 1")
        check(self.align_window >= 16, f"guard.align_window must be >= 16, got {self.align_window}")
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
# Words that carry a sentence's meaning in one token: a corrector may fix their spelling but
# never add, drop or change them ("not" -> "now", "three" -> "tree", "I do not like" -> "I do
# like"). Looked up by key: a word piece lowercased with its apostrophes removed, so "don't"
# and "dont" are one word. Any word piece ending in "n't" is a negation too.
NEGATIONS = frozenset(
    "not no never nor none nothing nobody neither nowhere "
    "dont doesnt didnt isnt arent wasnt werent havent hasnt hadnt wont wouldnt cant couldnt "
    "shouldnt mustnt neednt shant aint".split())
NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion hundreds thousands millions billions "
    "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
    "once twice thrice dozen dozens half".split())
# Words written together that hold such a word: their keys are those of the parts, so that
# "can not" <-> "cannot" and "some one" <-> "someone" are re-segmentations that keep meaning.
COMPOUND_KEYS: dict[str, tuple[str, ...]] = {
    "cannot": ("not",), "someone": ("one",), "anyone": ("one",), "everyone": ("one",), "noone": ("no", "one")}
# The English words: a misspelt word may become the negation or number it is a typo of only
# when it is not itself a word ("thre" -> "three" passes, "tree" -> "three" does not).
ENGLISH_WORDS_FILE = "frequency_dictionary_en_82_765.txt"  # in the symspellpy package, "word count" lines
_TOKEN_RE = re.compile(r"\S+")
# a word piece: letters, with apostrophes inside ("don't", "twenty" and "one" in "twenty-one")
_PIECE_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
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


@lru_cache(maxsize=1 << 16)
def meaning_keys(tok: str) -> tuple[str, ...]:
    """The negations and number words of a token, in order, as keys ("Don't," -> ("dont",))."""
    out = []
    for piece in _PIECE_RE.findall(tok):
        low = piece.lower()
        key = low.replace("'", "").replace("’", "")
        if key in COMPOUND_KEYS:
            out += COMPOUND_KEYS[key]
        elif key in NEGATIONS or key in NUMBER_WORDS or low.endswith(("n't", "n’t")):
            out.append(key)
    return tuple(out)


@lru_cache(maxsize=1 << 16)
def _script(ch: str) -> str:
    """A letter's script: the first word of its Unicode name (LATIN, CYRILLIC, GREEK, CJK,
    HIRAGANA, FULLWIDTH, MATHEMATICAL, ...), "?" for a letter without a name."""
    return unicodedata.name(ch, "?").split(" ")[0]


@lru_cache(maxsize=1 << 16)
def scripts(tok: str) -> frozenset[str]:
    """The scripts of a token's letters (Unicode category L*); digits, marks and symbols have none."""
    return frozenset(_script(c) for c in tok if unicodedata.category(c).startswith("L"))


@lru_cache(maxsize=1)
def english_counts() -> dict[str, int]:
    """symspellpy's English words with their corpus counts ("word count" lines; 0 when unreadable)."""
    from importlib import resources

    text = (resources.files("symspellpy") / ENGLISH_WORDS_FILE).read_text(encoding="utf-8")
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line:
            word, _, count = line.partition(" ")
            out.setdefault(word, int(count) if count.isascii() and count.isdigit() else 0)
    return out


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    return frozenset(english_counts())


def keeps_meaning(xs: list[str], ys: list[str]) -> bool:
    """Input tokens xs written as ys keep every negation and number word (a misspelt word may
    become one: "nto" -> "not"), and every letter keeps its script: with letters on both sides
    the two have the same set of scripts, and an output token mixes scripts only as one of the
    input tokens does; letters added to tokens that had none are Latin."""
    kx = [k for t in xs for k in meaning_keys(t)]
    ky = [k for t in ys for k in meaning_keys(t)]
    if kx != ky and not (len(xs) == 1 and _misspelt(xs[0], kx, ky)):
        return False
    sx = [scripts(t) for t in xs]
    sy = [scripts(t) for t in ys]
    ux, uy = frozenset().union(*sx), frozenset().union(*sy)
    if ux and uy and ux != uy:  # (a dropped doubled word or punctuation has no letters on one side)
        return False
    if not ux and uy - {"LATIN"}:  # letters where none were typed ("42" -> "о42"): Latin ones only
        return False
    return all(len(s) <= 1 or s in sx for s in sy)


def _misspelt(src: str, kx: list[str], ky: list[str]) -> bool:
    """A word that is not an English word ("nto", "thre", "wourldn't", "twentone") may be
    written as the negation or number word(s) it is a typo of: its listed keys stay, in order,
    and no key is lost."""
    if split_edges(src)[1].lower() in english_words():
        return False
    rest = iter(ky)
    return len(ky) >= len(kx) and all(k in rest for k in kx if k in NEGATIONS or k in NUMBER_WORDS)


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
    if any(len(t) > cfg.max_word_chars for t in xs + ys):
        return None  # a huge token is compared by equality only: linear, never an OSA over it
    cost = _shape_cost(x, xs, ys, u, cfg)
    if cost is None:
        return None
    # a listed expansion ("idk" -> "I don't know") is the one unit that may add a negation
    if not keeps_meaning(xs, ys) and not (len(xs) == 1 and ys and _abbrev_cost(xs[0], ys, cfg) is not None):
        return None
    # protected spans last: the regex is the expensive part, most rejected units never get here
    return cost if _protected_ok(xs, ys) else None


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
    if any(is_punct(t) for t in xs + ys) or _hidden_word(xs, ys):
        return None
    n, m = len(xs), len(ys)
    if n == m:
        # same count: every break must move (else it is 1:1 edits in disguise), and a
        # common short word must survive ("is it" -> "its it" is not a re-segmentation)
        if _breaks(xs) & _breaks(ys):
            return None
        ys_cores = {split_edges(t)[1].lower() for t in ys}
        lost = any(_short_word(c, cfg) and c.lower() not in ys_cores for c in (split_edges(t)[1] for t in xs))
        if lost and not _commoner_break(xs, ys):
            return None
    many = xs if n >= m else ys
    shorter = min(len(split_edges(t)[1]) for t in many)
    c = _word_cost("".join(xs), "".join(ys), cfg, budget_chars=shorter)
    return None if c is None else c + 0.5 * (n + m - 2)


def _commoner_break(xs: list[str], ys: list[str]) -> bool:
    """Only the breaks moved, every letter kept, and the rarest word made is commoner than the
    rarest word typed (English word counts): "a tthe" / "att he" -> "at the". "is it" -> "I sit"
    keeps its letters too, but "sit" is rarer than "is" and "it": no short word vanishes there."""
    cx = [split_edges(t)[1].lower() for t in xs]
    cy = [split_edges(t)[1].lower() for t in ys]
    if "".join(cx) != "".join(cy):
        return False
    counts = english_counts()
    return min(counts.get(c, 0) for c in cy) > min(counts.get(c, 0) for c in cx)


def _letters(toks: list[str]) -> str:
    return "".join(split_edges(t)[1].lower() for t in toks)


def _hidden_word(xs: list[str], ys: list[str]) -> bool:
    """A whole word added or dropped at either end, the rest only re-broken: "some times" ->
    "I sometimes" is "I" inserted (its one edit fits the budget), not a re-segmentation."""
    for side, other in ((xs, _letters(ys)), (ys, _letters(xs))):
        if len(side) > 1 and other in (_letters(side[1:]), _letters(side[:-1])):
            return True
    return False


def _unborrowed(x: list[str], y: list[str], units: list[Unit], ok: list[bool]) -> list[bool]:
    """A kept re-segmentation beside a refused lone word is reverted when that word's letters
    are the ones it moved. "is it" -> "I sit" aligns as [] -> "I" (refused) + "is it" -> "sit"
    (a merge, one edit) and would give "sit"; "a tthe" -> "at the" as "a" -> [] (refused) +
    "tthe" -> "at the" would give "a at the": text neither side wrote. Borrowed = the letters
    of both units together are no further apart than the re-segmentation's own."""
    out = list(ok)
    for k, u in enumerate(units):
        xs, ys = x[u.i1:u.i2], y[u.j1:u.j2]
        if not ok[k] or not xs or not ys or len(xs) + len(ys) <= 2 or xs == ys:
            continue
        alone = OSA.distance(_letters(xs), _letters(ys))
        for nb in (k - 1, k + 1):
            if not 0 <= nb < len(units) or ok[nb]:
                continue
            v = units[nb]
            lx, ly = x[v.i1:v.i2], y[v.j1:v.j2]
            if (lx and ly) or not _letters(lx + ly):  # a lone word has one side only, and letters
                continue
            both = (lx + xs, ly + ys) if nb < k else (xs + lx, ys + ly)
            if OSA.distance(_letters(both[0]), _letters(both[1])) <= alone:
                out[k] = False
    return out


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
    # a token over max_word_chars never passes a changed unit: no distance for it, only a flag
    xlong = [len(t) > cfg.max_word_chars for t in x[i1:i2]]
    ylong = [len(t) > cfg.max_word_chars for t in y[j1:j2]]
    xc = ["" if big else e[1].lower() for e, big in zip(xe, xlong)]
    yc = ["" if big else e[1].lower() for e, big in zip(ye, ylong)]
    dist = process.cdist(xc, yc, scorer=OSA.distance, workers=1).tolist() if xc and yc else None
    budget = [allowed_edits(len(c), cfg) for c in xc]
    abbrev = [cfg.expand_abbreviations and c in ABBREVIATIONS for c in xc]
    memo: dict[tuple[int, int, int, int], float] = {}
    # prefix sums: token lengths and long tokens up to each offset
    xlen = list(accumulate(map(len, x[i1:i2]), initial=0))
    ylen = list(accumulate(map(len, y[j1:j2]), initial=0))
    xbig, ybig = list(accumulate(xlong, initial=0)), list(accumulate(ylong, initial=0))

    def inner(e, lens, k: int, cnt: int) -> int:
        """Length of cnt neighbours written together, without the outer edge punctuation."""
        return lens[k + cnt] - lens[k] - len(e[k][0]) - len(e[k + cnt - 1][2])

    def hopeless(a: int, b: int, da: int, db: int) -> bool:
        """Length bounds that unit_cost's exact check would reject anyway (OSA >= length gap)."""
        if not (da and db):
            return False
        if xbig[a + da] - xbig[a] or ybig[b + db] - ybig[b]:
            return True
        if da == 1 and abbrev[a]:
            return False
        if da == 1 and db == 1:
            return dist[a][b] > budget[a]
        if max(da, db) > cfg.max_resegment or not cfg.allow_merge_split:
            return True
        short = min(len(e[1]) for e in (xe[a:a + da] if da >= db else ye[b:b + db]))
        return abs(inner(xe, xlen, a, da) - inner(ye, ylen, b, db)) > allowed_edits(short, cfg)

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
    if n == m == 1 and unit_cost(x, y, Unit(i1, i2, j1, j2), cfg) is not None:
        return [Unit(i1, i2, j1, j2)]  # what the DP picks too: no split of one word pair costs less
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
    return _overwrites(units[::-1], cost, i1, j1)


def _overwrites(units: list[Unit], cost, i1: int, j1: int) -> list[Unit]:
    """A refused inserted word right beside an accepted deletion is one word the model wrote over,
    not a word it dropped: "it it" -> "іt it" (a Cyrillic і) pairs as insert "іt" + delete the doubled
    "it", which the DP likes (one refusal plus a cheap deletion is less than a refused pair), and the
    rebuilt text would lose a word the model kept. Such neighbours become one (refused) replacement."""
    def kind(u: Unit) -> str:
        da, db = u.i2 - u.i1, u.j2 - u.j1
        if da == 1 and db == 0 and cost(u.i1 - i1, u.j1 - j1, 1, 0) < _REJECT:
            return "kept-delete"
        if da == 0 and db == 1 and cost(u.i1 - i1, u.j1 - j1, 0, 1) >= _REJECT:
            return "refused-insert"
        return ""

    out: list[Unit] = []
    for u in units:
        if out and {kind(out[-1]), kind(u)} == {"kept-delete", "refused-insert"}:
            v = out.pop()
            u = Unit(min(v.i1, u.i1), max(v.i2, u.i2), min(v.j1, u.j1), max(v.j2, u.j2))
        out.append(u)
    return out


def _opcodes(x: list[str], y: list[str], cfg: GuardConfig) -> list[tuple[str, int, int, int, int]]:
    """Levenshtein opcodes over tokens: (tag, i1, i2, j1, j2). Exact when both sides have at
    most `align_window` tokens; longer ones window by window (W tokens of each side from the
    current point; keep the opcodes that end within the first W/2 of both, at least one; go on
    from where they end), so a 1 MB input costs O(n * W), not O(n * m)."""
    w = cfg.align_window
    if len(x) <= w and len(y) <= w:
        return [tuple(op) for op in Levenshtein.opcodes(x, y)]
    out: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    while i < len(x) or j < len(y):
        xe, ye = min(len(x), i + w), min(len(y), j + w)
        ops = list(Levenshtein.opcodes(x[i:xe], y[j:ye]))
        if not (xe == len(x) and ye == len(y)):  # opcodes are monotone: this keeps a prefix
            ops = [op for op in ops if op.src_end <= w // 2 and op.dest_end <= w // 2] or ops[:1]
        out += [(op.tag, i + op.src_start, i + op.src_end, j + op.dest_start, j + op.dest_end) for op in ops]
        i, j = out[-1][2], out[-1][4]
    return out


def _expanded_opcodes(x: list[str], y: list[str], cfg: GuardConfig) -> list[tuple[str, int, int, int, int]]:
    """Opcodes with every multi-word abbreviation of the input ("btw", "idk") aligned as its
    expansion and mapped back: otherwise "btw the" -> "By the way, the" pairs the input's "the"
    with the expansion's and the expansion can never be accepted. Opcodes touching an expanded
    token become non-equal, so the block search decides that unit."""
    grown = [ABBREVIATIONS.get(split_edges(t)[1].lower()) if cfg.expand_abbreviations else None for t in x]
    grown = [sorted(e)[0].split() if e and " " in sorted(e)[0] else None for e in grown]
    if not any(grown):
        return _opcodes(x, y, cfg)
    xs: list[str] = []
    owner: list[int] = []  # x' position -> x index
    for i, (t, words) in enumerate(zip(x, grown)):
        xs += words or [t]
        owner += [i] * len(words or [t])
    out: list[tuple[str, int, int, int, int]] = []
    for tag, a1, a2, b1, b2 in _opcodes(xs, y, cfg):
        if tag != "equal":  # adjacent non-equal opcodes merge into one block in align()
            lo = owner[a1] if a1 < len(owner) else len(x)
            out.append(("replace", lo, owner[a2 - 1] + 1 if a2 > a1 else lo, b1, b2))
            continue
        p = a1
        while p < a2:  # split an equal run where it enters or leaves an expanded token
            q, plain = p, grown[owner[p]] is None
            while q < a2 and (grown[owner[q]] is None) == plain:
                q += 1
            tag2 = "equal" if plain else "replace"
            out.append((tag2, owner[p], owner[q - 1] + 1, b1 + p - a1, b1 + q - a1))
            p = q
    return out


def align(x: list[str], y: list[str], cfg: GuardConfig = DEFAULT) -> list[Unit]:
    """Monotone alignment of token lists into units (equal runs are one unit each)."""
    units: list[Unit] = []
    pending: list[int] | None = None  # a run of adjacent non-equal opcodes, merged
    for tag, a1, a2, b1, b2 in _expanded_opcodes(x, y, cfg):
        if tag == "equal":
            if pending:
                units += _block_units(x, y, *pending, cfg)
                pending = None
            units.append(Unit(a1, a2, b1, b2))
        elif pending is None:
            pending = [a1, a2, b1, b2]
        else:
            pending[1], pending[3] = a2, b2
    if pending:
        units += _block_units(x, y, *pending, cfg)
    return units


# ---------------------------------------------------------------- the guard
def _rebuild(inp: str, out: str, xsp, ysp, units: list[Unit], ok: list[bool]) -> str:
    """Accepted units from the output, the rest from the input, in order. A mark the output put
    after a kept word right before wording the guard refused belongs to that wording ("the
    environment. [due] Friday", "for Sunday? [lunch]", "after work, [right?]"): the kept word keeps
    the input's trailing punctuation, and a final . ? ! goes to the end when the refused wording
    ends the text (before a refused added sentence it stays: "I thought so. [I hope this helps!]")."""
    def tok(text: str, spans, i: int) -> str:
        return text[spans[i][0]:spans[i][1]]

    def wording(v: Unit) -> bool:  # a refused unit with letters on either side
        toks = [tok(inp, xsp, i) for i in range(v.i1, v.i2)] + [tok(out, ysp, j) for j in range(v.j1, v.j2)]
        return any(split_edges(t)[1] for t in toks)

    shown = [(u.j1 < u.j2) if k else (u.i1 < u.i2) for u, k in zip(units, ok)]
    last = max((k for k, v in enumerate(shown) if v), default=-1)
    pieces: list[str] = []
    moved = ""
    for k, (u, accepted) in enumerate(zip(units, ok)):
        src, spans, a, b = (out, ysp, u.j1, u.j2) if accepted else (inp, xsp, u.i1, u.i2)
        if a == b:
            continue
        if pieces:  # the whitespace that preceded this piece where it came from
            sep = src[spans[a - 1][1]:spans[a][0]] if a > 0 else " "
            pieces.append(sep or " ")
        piece = src[spans[a][0]:spans[b - 1][1]]
        if accepted and u.i1 < u.i2 and k + 1 < len(units) and not ok[k + 1] and wording(units[k + 1]):
            xt, yt = split_edges(tok(inp, xsp, u.i2 - 1))[2], split_edges(tok(out, ysp, u.j2 - 1))[2]
            final = bool(yt) and set(yt) <= set(".?!")
            if xt != yt and (units[k + 1].i1 < units[k + 1].i2 or not final):  # (a refused added sentence
                piece = piece[:len(piece) - len(yt)] + xt                       # leaves the kept one its end)
                if k + 1 == last and final and not xt:
                    moved = yt
        pieces.append(piece)
    text = "".join(pieces)
    if moved and not split_edges(text.rsplit(None, 1)[-1])[2]:
        text += moved
    lead = inp[: xsp[0][0]] if xsp else inp
    trail = inp[xsp[-1][1]:] if xsp else ""
    return lead + text + trail


def _touches(spans_idx: set[int], a: int, b: int) -> bool:
    return any(k in spans_idx for k in range(a - 1, b + 1))


def _protected_tokens(text: str, spans: list[tuple[int, int]]) -> set[int]:
    """Indices of the tokens that overlap a protected span (one sweep: both lists are sorted)."""
    out, k = set(), 0
    for a, b in (m.span() for m in PROTECTED_RE.finditer(text)):
        while k < len(spans) and spans[k][1] <= a:
            k += 1
        t = k
        while t < len(spans) and spans[t][0] < b:
            out.add(t)
            t += 1
    return out


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


def _judged(inp: str, out: str, cfg: GuardConfig) -> tuple[list[str], list[str], list[Unit], list[bool]]:
    """Both texts' tokens, their alignment units and whether each unit's edit passes unit_cost."""
    x, y = _TOKEN_RE.findall(inp), _TOKEN_RE.findall(out)
    units = align(x, y, cfg)
    return x, y, units, _unborrowed(x, y, units, [unit_cost(x, y, u, cfg) is not None for u in units])


def _mostly_rejected(x: list[str], units: list[Unit], ok: list[bool], cfg: GuardConfig) -> bool:
    """More of the input's words rejected than guard.max_rejected_share: a rewrite, not a correction."""
    return sum(u.i2 - u.i1 for u, k in zip(units, ok) if not k) > cfg.max_rejected_share * len(x)


def _guard_once(inp: str, out: str, cfg: GuardConfig, want: list[str]) -> str:
    """One pass; `want` is protected_strings(inp), the spans every result must carry unchanged."""
    def spans() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:  # only when rebuilding
        return tokenize(inp)[1], tokenize(out)[1]

    x, y, units, ok = _judged(inp, out, cfg)
    ok = _anchor_punct(units, ok)
    if _mostly_rejected(x, units, ok, cfg):
        return inp  # mostly a rewrite: the few words it happens to share are no correction
    result = out if all(ok) else _rebuild(inp, out, *spans(), units, ok)
    if result == inp or protected_strings(result) == want:
        return result
    # A protected span was altered across unit borders (e.g. "9:30 p.m" -> "9:30 p.m."):
    # revert every unit next to a protected token, and the whole output if that is not enough.
    xsp, ysp = spans()
    px, py = _protected_tokens(inp, xsp), _protected_tokens(out, ysp)
    ok = [k and not (_touches(px, u.i1, u.i2) or _touches(py, u.j1, u.j2)) for k, u in zip(ok, units)]
    result = _rebuild(inp, out, xsp, ysp, units, ok)
    return result if protected_strings(result) == want else inp


_BANGS = re.compile(r"(\?)?!+")


def calm(input: str, output: str) -> str:  # noqa: A002 (contract name)
    """The output with every '!' turned into '.' ('?!' into '?') when the input has none.
    Emphasis is the writer's to add: a message typed without a final mark ends in '.', not in an
    exclamation the corrector guessed (models trained on dialogue guess it often)."""
    if "!" in input or "!" not in output:
        return output
    return _BANGS.sub(lambda m: m.group(1) or ".", output)


def guard(input: str, output: str, config: GuardConfig | None = None) -> str:  # noqa: A002 (contract name)
    """`output` where it corrects `input`; the input's words wherever it rewrites them."""
    cfg = config or DEFAULT
    if output == input:
        return output
    if not cfg.add_exclamation:
        output = calm(input, output)
        if output == input:
            return output
    current, want = output, protected_strings(input)
    for _ in range(8):  # iterate to a fixed point so that the guard is idempotent
        nxt = _guard_once(input, current, cfg, want)
        if nxt == current or nxt == input:  # (the input is a fixed point: guard(x, x) == x)
            return nxt
        current = nxt
    return input  # did not settle: the input is always a fixed point


def paraphrased(input: str, output: str, config: GuardConfig | None = None) -> bool:
    """True when the guard had to change the output."""
    return guard(input, output, config) != output


def refused_words(input: str, output: str, config: GuardConfig | None = None) -> list[int]:  # noqa: A002
    """Indices of the input's whitespace tokens whose change in `output` the guard refuses, as
    single words: the 1:1-token units of the input/output alignment that unit_cost rejects
    ("batery" -> "boat", "thnaks" -> "than"). A read-only view for the dictionary pass
    (evaluation/dictpass.py), which offers those words a dictionary correction instead; it
    changes none of guard()'s decisions. An output that is mostly a rewrite (guard() keeps the
    input whole) refuses no single word: there is no one word the model meant to fix."""
    cfg = config or DEFAULT
    if output == input:
        return []
    x, _, units, ok = _judged(input, output, cfg)
    if _mostly_rejected(x, units, ok, cfg):
        return []
    return [u.i1 for u, k in zip(units, ok) if not k and u.i2 - u.i1 == 1 and u.j2 - u.j1 == 1]
