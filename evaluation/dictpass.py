"""The dictionary pass: after the model and its guard, a noisy-channel choice among dictionary
words for the words the model left wrong.

    dp = DictionaryPass(DictConfig(), tokenizer, score, max_len)
    dp.correct("thnaks for the batery", "than for the boat") -> "thanks for the battery"

Why: the fine-tune and a dictionary fail on different words. The model knows the context but
leaves some typos ("programer"), or rewrites them into other words the guard then refuses
("batery" -> "boat"); SymSpell knows the words but not the context ("moive" -> "move").

- Where it runs: the words of the guarded output that are not in the dictionary (SymSpell's
  frequency list), and the words whose change the guard refused (guard.refused_words); never
  protected spans (URLs, e-mails, numbers, code), words with digits, listed chat abbreviations,
  or capitalised words that do not open a sentence (names the user wrote).
- What it proposes: SymSpell candidates within `max_edit_distance`, the word split in two
  dictionary words ("alot" -> "a lot") or merged with its neighbour ("tomor row" -> "tomorrow"),
  and an apostrophe put in ("dont" -> "don't").
- How it picks, per word: score(c) = log P(output with c | prompt) + prior(typed | c). The first
  term is the model's own teacher-forced log-probability of the whole answer with the candidate
  in place (every candidate of the sentence in one call of `score`: they share the prompt); the
  prior is -edit_weight x a keyboard-weighted edit distance (a neighbouring key, a doubled or
  dropped double letter, a swap cost less than other edits) plus list_bonus when the real
  misspelling lists pair the typed word with the candidate. Keeping the word scores its own
  log-probability with prior 0. A candidate wins only by `margin` over keeping the word and by
  `tie_margin` over the runner-up; else the word stays. Case follows the typed word.
- The guard has the last word: the result is guard(input, result).

`score(prefix_ids, continuations) -> [sum of log-probs]` is the only thing the pass asks of a
model, so the HF model (hf_scorer, one batched forward over the candidates with the shared
prefix computed once) and the `.pte` runtime (export/corrector.py) give it the same rule.
"""
from __future__ import annotations

import ast
import csv
import io
import math
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

from core.config import check
from core.errors import EvalError
from core.keyboard import adjacent
from core.paths import input_path
from core.spans import protected_spans
from evaluation.guard import ABBREVIATIONS, GuardConfig, guard, refused_words, split_edges

# The one thing the pass needs from a model: the summed log-probability of each continuation
# (token ids) after a shared prefix (token ids), teacher-forced.
ScoreFn = Callable[[Sequence[int], Sequence[Sequence[int]]], list[float]]


class DictPassError(EvalError):
    """The dictionary pass cannot run: a misspelling list is missing or unreadable."""


CONTEXTS = ("typed", "masked", "both")


@dataclass(frozen=True)  # hashable, like GuardConfig
class DictConfig:
    """The dictionary pass (evaluation/configs/default.yaml, section `dictionary`)."""
    enabled: bool = True             # run the pass after the model (the "<backend>+dict" row in eval)
    margin: float = 1.0              # nats a candidate must beat keeping the typed word by (messages dev)
    tie_margin: float = 0.5          # ... and the runner-up by (else the context cannot tell them apart)
    max_edit_distance: int = 2       # SymSpell candidates within this many edits
    max_candidates: int = 5          # per word, the best by prior + 0.5 log10(word count)
    max_words: int = 6               # words per sentence the pass looks at (the first ones)
    min_word_len: int = 3            # shorter words ("u", "im") are left to the model and the guard
    edit_weight: float = 1.5         # nats per weighted edit in the prior
    list_bonus: float = 2.0          # nats when the misspelling lists pair the typed word with the candidate
    misspellings: str = ""           # folder or file of real misspelling lists ("" = no list bonus)
    refused_words: bool = True       # also offer dictionary words for words whose change the guard refused
    splits: bool = True              # "alot" -> "a lot" (both parts common words, min_part_count)
    merges: bool = True              # "tomor row" -> "tomorrow"
    min_part_count: int = 1_000_000  # SymSpell count a split's part needs ("th" + "anks" is no split)
    # what the model sees while it scores: "typed" = the user's text as typed; "masked" = that text
    # with every word under review replaced by `mask`. A corrector asked to score its answer for
    # "my batery is dead" prefers copying "batery" (-1.8 nats against -5.1 for "battery"); with the
    # word masked its log-probability is a context model of the answer, the noisy channel's P(c).
    # "both" = the sum of the two: the typed context's pull towards copying keeps names and
    # slang the masked context alone would replace ("physio" -> "physic"). "typed" stays the default:
    # "both" fixes more on every replayed set but over-corrects +0.12 points more on Holbrook
    # (release/smollm2-135m-typo-lora-v2/README.md has the table). The C++ pass runs all three.
    context: str = "typed"
    mask: str = "___"

    def __post_init__(self) -> None:
        check(self.margin >= 0, f"dictionary.margin must be >= 0 (nats), got {self.margin}")
        check(self.tie_margin >= 0, f"dictionary.tie_margin must be >= 0 (nats), got {self.tie_margin}")
        check(1 <= self.max_edit_distance <= 2,
              f"dictionary.max_edit_distance must be 1 or 2 (SymSpell's index), got {self.max_edit_distance}")
        check(1 <= self.max_candidates <= 32, f"dictionary.max_candidates must be in [1, 32], "
              f"got {self.max_candidates}")
        check(1 <= self.max_words <= 64, f"dictionary.max_words must be in [1, 64], got {self.max_words}")
        check(self.min_word_len >= 1, f"dictionary.min_word_len must be >= 1, got {self.min_word_len}")
        check(self.edit_weight >= 0, f"dictionary.edit_weight must be >= 0, got {self.edit_weight}")
        check(self.list_bonus >= 0, f"dictionary.list_bonus must be >= 0, got {self.list_bonus}")
        check(self.min_part_count >= 0, f"dictionary.min_part_count must be >= 0, got {self.min_part_count}")
        check(self.context in CONTEXTS,
              f"dictionary.context must be one of {list(CONTEXTS)}, got {self.context!r}")
        check(bool(self.mask.strip()) and not any(c.isspace() for c in self.mask),
              f"dictionary.mask must be one word with no whitespace, got {self.mask!r}")


# ---------------------------------------------------------------- the dictionary
@lru_cache(maxsize=1)
def symspell():
    """SymSpell over its shipped English frequency list (the one the symspell baseline uses)."""
    from evaluation.correctors import _symspell

    return _symspell()


def word_count(word: str) -> int:
    """SymSpell's count of a lowercase word; 0 when it is not in the dictionary."""
    return symspell().words.get(word, 0)


# ---------------------------------------------------------------- the real misspelling lists
@lru_cache(maxsize=4)
def misspelling_pairs(path: str) -> frozenset[tuple[str, str]]:
    """(typed, meant) lowercase word pairs of every list under `path`: Mitton .dat files
    ($meant, then one misspelling a line), TOEFL-Spell .tsv, Norvig spell-testset*.txt."""
    root = Path(path)
    if not root.exists():
        raise DictPassError(f"dictionary.misspellings: {root} not found (the real misspelling lists, "
                            "e.g. ../shared/data/misspellings; \"\" runs the pass without them)")
    files = [root] if root.is_file() else sorted(
        f for f in root.iterdir() if f.is_file() and (f.suffix in (".dat", ".tsv")
                                                       or f.name.startswith("spell-testset")))
    pairs: set[tuple[str, str]] = set()
    for f in files:
        try:
            text = f.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DictPassError(f"dictionary.misspellings: {f} is no UTF-8 text ({exc})") from None
        pairs |= {(w.lower(), m.lower()) for m, w in _read_list(f, text)
                  if w.isalpha() and m.isalpha() and w.lower() != m.lower()}
    if not pairs:  # a bonus that can never apply must not pass silently
        raise DictPassError(f"dictionary.misspellings: {root} holds no misspelling list "
                            "(.dat, .tsv, spell-testset*.txt)")
    return frozenset(pairs)


def _read_list(f: Path, text: str) -> list[tuple[str, str]]:
    """(meant, typed) pairs of one list file."""
    if f.suffix == ".dat":
        out, meant = [], None
        for line in text.splitlines():
            if line.startswith("$"):
                meant = line[1:].strip()
            elif line.strip() and meant is not None:
                out.append((meant, line.split()[0]))
        return out
    if f.suffix == ".tsv":
        rows = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
        return [(r.get("Correction") or "", r.get("Misspelling") or "") for r in rows]
    try:
        table = ast.literal_eval(text.split("=", 1)[1].strip())
    except (IndexError, ValueError, SyntaxError, RecursionError, MemoryError) as exc:
        raise DictPassError(f"dictionary.misspellings: {f} is no Norvig spell-testset dict "
                            f"({type(exc).__name__})") from None
    if not isinstance(table, dict):
        raise DictPassError(f"dictionary.misspellings: {f} is no Norvig spell-testset dict")
    return [(m, w) for m, ws in table.items() if isinstance(m, str) and isinstance(ws, str)
            for w in ws.split()]


# ---------------------------------------------------------------- the edit prior
def edit_cost(typed: str, meant: str) -> float:
    """Keyboard-weighted OSA distance from what was meant to what was typed (lowercase): a
    neighbouring key, a doubled letter typed once or a letter typed twice cost 0.5, a swap of
    two letters 0.75, a space put in or left out 0.5, any other edit 1."""
    a, b = meant.lower(), typed.lower()
    n, m = len(a), len(b)
    d = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        d[i][0] = d[i - 1][0] + _omit(a, i - 1)
    for j in range(1, m + 1):
        d[0][j] = d[0][j - 1] + _extra(b, j - 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = 0.0 if a[i - 1] == b[j - 1] else (0.5 if adjacent(a[i - 1], b[j - 1]) else 1.0)
            best = min(d[i - 1][j] + _omit(a, i - 1), d[i][j - 1] + _extra(b, j - 1), d[i - 1][j - 1] + sub)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1] and a[i - 1] != a[i - 2]:
                best = min(best, d[i - 2][j - 2] + 0.75)
            d[i][j] = best
    return d[n][m]


def _omit(meant: str, i: int) -> float:
    """Cost of leaving out meant[i]: half for one letter of a double or for a space."""
    c = meant[i]
    double = (i > 0 and meant[i - 1] == c) or (i + 1 < len(meant) and meant[i + 1] == c)
    if c in " '":  # a space or an apostrophe left out: the commonest slips in typed messages
        return 0.25 if c == "'" else 0.5
    return 0.5 if double else 1.0


def _extra(typed: str, j: int) -> float:
    """Cost of typing typed[j] that was not meant: half when it repeats or neighbours a letter
    beside it (a finger that slipped or bounced), or is a space."""
    c = typed[j]
    near = [typed[k] for k in (j - 1, j + 1) if 0 <= k < len(typed)]
    return 0.5 if c == " " or any(c == o or adjacent(c, o) for o in near) else 1.0


# ---------------------------------------------------------------- candidates
class Candidate(NamedTuple):
    """Replace output tokens [start, end) (their letters; edge punctuation stays) by `text`."""
    start: int
    end: int
    text: str
    prior: float


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def candidates(tokens: list[str], k: int, cfg: DictConfig, pairs: frozenset = frozenset()) -> list[Candidate]:
    """Dictionary candidates for the word of token k (lowercase text, prior in nats), best
    prior first: SymSpell edits, splits, merges with a neighbour, an apostrophe put in."""
    from symspellpy import Verbosity

    low = split_edges(tokens[k])[1].lower()
    found: dict[tuple[int, int, str], float] = {}

    def add(start: int, end: int, text: str, typed: str) -> None:
        bonus = cfg.list_bonus if (typed, text) in pairs else 0.0
        prior = -cfg.edit_weight * edit_cost(typed, text) + bonus
        found[(start, end, text)] = max(prior, found.get((start, end, text), -1e9))

    for s in symspell().lookup(low, Verbosity.ALL, max_edit_distance=cfg.max_edit_distance):
        if s.term != low and _WORD.fullmatch(s.term):
            add(k, k + 1, s.term, low)
    for i in range(1, len(low)):
        if cfg.splits and min(word_count(low[:i]), word_count(low[i:])) >= max(1, cfg.min_part_count):
            add(k, k + 1, f"{low[:i]} {low[i:]}", low)
    if cfg.merges:
        for a in (k - 1, k):
            if 0 <= a and a + 1 < len(tokens) and _joinable(tokens[a], tokens[a + 1]):
                joined = (tokens[a] + tokens[a + 1]).lower()
                if word_count(joined):
                    add(a, a + 2, joined, f"{tokens[a].lower()} {tokens[a + 1].lower()}")
    # which candidates reach the model: the prior, then how common the word is (a rare word one
    # edit away, "wigan" for "agian", should not push out a common one)
    rank = {key: p + 0.5 * math.log10(1 + min(map(word_count, key[2].split()))) for key, p in found.items()}
    best = sorted(found.items(), key=lambda kv: -rank[kv[0]])[:cfg.max_candidates]
    # an apostrophe put in ("dont" -> "don't") always reaches the model (the list's flat count for
    # contractions can rank it out), once: when SymSpell proposed it too ("cant" -> "can't"), a
    # second copy tied with the first and the tie margin kept the typo
    if "'" not in low:
        have = {key for key, _ in best}
        for i in range(1, len(low)):
            key = (k, k + 1, low[:i] + "'" + low[i:])
            if word_count(key[2]) and key not in have:
                best.append((key, -cfg.edit_weight * 0.25))
    return [Candidate(s, e, t, p) for (s, e, t), p in best]


def _joinable(a: str, b: str) -> bool:
    """Two plain words with no punctuation between them (the merge keeps their outer edges)."""
    return bool(_WORD.fullmatch(a) and _WORD.fullmatch(b))


def cased(typed: str, text: str) -> str:
    """`text` in the typed word's case: ALL CAPS stays so, a capital first letter stays."""
    if len(typed) > 1 and typed.isupper():
        return text.upper()
    return text[:1].upper() + text[1:] if typed[:1].isupper() else text


# ---------------------------------------------------------------- targets
def targets(inp: str, raw: str, out: str, cfg: DictConfig, guard_cfg: GuardConfig | None = None) -> list[int]:
    """Token indices of `out` (the guarded output) the pass looks at: words outside the
    dictionary, and words whose change from `raw` the guard refused (cfg.refused_words)."""
    spans = [m.span() for m in re.finditer(r"\S+", out)]
    tokens = [out[a:b] for a, b in spans]
    guarded = set(_protected_tokens(out, spans))
    refused = _refused_in_output(inp, raw, tokens, guard_cfg) if cfg.refused_words else set()
    found = []
    for k, tok in enumerate(tokens):
        core = split_edges(tok)[1]
        if k in guarded or not _WORD.fullmatch(core) or len(core) < cfg.min_word_len:
            continue
        if core.lower() in ABBREVIATIONS or not _lower_or_opens(core, k, tokens):
            continue
        if word_count(core.lower()) and k not in refused:
            continue
        found.append(k)
    return found[:cfg.max_words]


def _protected_tokens(text: str, spans: list[tuple[int, int]]) -> list[int]:
    prot = protected_spans(text)
    return [k for k, (a, b) in enumerate(spans) if any(pa < b and a < pb for pa, pb in prot)]


def _lower_or_opens(core: str, k: int, tokens: list[str]) -> bool:
    """A lowercase word, or one capitalised only because it opens a sentence ("Thnaks,"):
    other capitals are names or acronyms the user wrote, never looked up."""
    if core.islower():
        return True
    opens = k == 0 or tokens[k - 1].rstrip("\"')]”’").endswith((".", "!", "?"))
    return opens and core[0].isupper() and core[1:].islower()


def _refused_in_output(inp: str, raw: str, tokens: list[str], guard_cfg: GuardConfig | None) -> set[int]:
    """Output token indices holding an input word whose change the guard refused (the guarded
    output kept the input's word there)."""
    from rapidfuzz.distance import Levenshtein

    refused = set(refused_words(inp, raw, guard_cfg))
    if not refused:
        return set()
    x = inp.split()
    out = set()
    for op in Levenshtein.opcodes(x, tokens):
        if op.tag == "equal":
            span = range(op.src_end - op.src_start)
            out |= {op.dest_start + d for d in span if op.src_start + d in refused}
    return out


def masked(inp: str, words: list[str], mask: str) -> str:
    """`inp` with every whole-word occurrence of the words' letters (any case) replaced by `mask`:
    the model then scores each candidate by its context, not by how closely it copies the input."""
    cores = sorted({split_edges(w)[1].lower() for w in words} - {""}, key=len, reverse=True)
    if not cores:
        return inp
    pattern = r"(?<![\w'])(?:" + "|".join(map(re.escape, cores)) + r")(?![\w'])"
    return re.sub(pattern, mask, inp, flags=re.IGNORECASE)


# ---------------------------------------------------------------- the rule
def pick(keep: float, scored: list[tuple[float, Any]], cfg: DictConfig) -> Any | None:
    """The candidate whose score beats keeping the word by cfg.margin and the runner-up by
    cfg.tie_margin, else None (keep the word). `scored`: (score, candidate) pairs."""
    if not scored:
        return None
    ranked = sorted(scored, key=lambda sc: -sc[0])
    best = ranked[0][0]
    if best - keep < cfg.margin:
        return None
    if len(ranked) > 1 and best - ranked[1][0] < cfg.tie_margin:
        return None
    return ranked[0][1]


def substitute(text: str, spans: list[tuple[int, int]], c: Candidate) -> str:
    """`text` with tokens [c.start, c.end) replaced by c.text, in the typed case, keeping the
    edge punctuation of the first and last token and the whitespace around them."""
    first, last = text[slice(*spans[c.start])], text[slice(*spans[c.end - 1])]
    pre, core, _ = split_edges(first)
    suf = split_edges(last)[2]
    return text[:spans[c.start][0]] + pre + cased(core, c.text) + suf + text[spans[c.end - 1][1]:]


@dataclass
class PassResult:
    output: str                 # after the pass, guarded against the input
    needed: bool                # the sentence had words the pass looked at
    changes: list[str] = field(default_factory=list)  # "typed->chosen" for every accepted change
    seconds: float = 0.0


class PassModel(NamedTuple):
    """What a corrector lends the pass (its `dictionary_model()`): the tokenizer its prompts
    are built with, its ScoreFn, its context length and the worked examples in its prompt."""
    tokenizer: Any
    score: ScoreFn
    max_len: int
    few_shot: int = 0


class DictionaryPass:
    """The pass over one model: its tokenizer (for the prompt and the answers) and `score`."""

    @classmethod
    def for_model(cls, cfg: DictConfig, model: PassModel, guard_cfg: GuardConfig | None = None):
        return cls(cfg, model.tokenizer, model.score, model.max_len, guard_cfg, model.few_shot)

    def __init__(self, cfg: DictConfig, tokenizer: Any, score: ScoreFn, max_len: int,
                 guard_cfg: GuardConfig | None = None, few_shot: int = 0) -> None:
        self.cfg, self.tok, self.score, self.max_len = cfg, tokenizer, score, max_len
        self.guard_cfg, self.few_shot = guard_cfg, few_shot
        self.pairs = misspelling_pairs(str(input_path(cfg.misspellings))) if cfg.misspellings else frozenset()
        symspell()  # the dictionary loads here (seconds), not inside the first sentence's timing

    def correct(self, inp: str, raw: str) -> str:
        return self.run(inp, raw).output

    def run(self, inp: str, raw: str) -> PassResult:
        """The model's raw output `raw` for `inp`: guarded, then the pass, then guarded again."""
        t0 = time.perf_counter()
        out = guard(inp, raw, self.guard_cfg)
        spans = [m.span() for m in re.finditer(r"\S+", out)]
        tokens = [out[a:b] for a, b in spans]
        cands = {k: candidates(tokens, k, self.cfg, self.pairs) for k in targets(inp, raw, out, self.cfg,
                                                                                    self.guard_cfg)}
        if not cands:
            return PassResult(out, False, seconds=time.perf_counter() - t0)
        variants = [(k, c, substitute(out, spans, c)) for k, cs in cands.items() for c in cs]
        lps = self._context_log_probs(inp, [tokens[k] for k in cands], [out] + [v for _, _, v in variants])
        if lps is None:  # too long for the model's context: the guarded output stays
            return PassResult(out, True, seconds=time.perf_counter() - t0)
        chosen: list[Candidate] = []
        for k in cands:
            mine = [(lp + c.prior, c) for (kk, c, _), lp in zip(variants, lps[1:]) if kk == k]
            c = pick(lps[0], mine, self.cfg)
            if c is not None and all(c.end <= o.start or o.end <= c.start for o in chosen):
                chosen.append(c)
        result = out
        for c in sorted(chosen, key=lambda c: -c.start):  # right to left: earlier spans stay valid
            result = substitute(result, spans, c)
        final = guard(inp, result, self.guard_cfg)  # the guard has the last word
        changes = [f"{' '.join(tokens[c.start:c.end])}->{c.text}" for c in sorted(chosen)]
        return PassResult(final, True, changes if final != out else [], time.perf_counter() - t0)

    def _context_log_probs(self, inp: str, words: list[str], answers: list[str]) -> list[float] | None:
        """The answers' log-probabilities in the configured context(s), summed for "both"; None
        when they do not fit the model's context. The answers are tokenized once for both."""
        from core.prompt import answer_ids, prompt_ids

        texts = [inp] if self.cfg.context in ("typed", "both") else []
        if self.cfg.context in ("masked", "both"):
            texts.append(masked(inp, words, self.cfg.mask))
        conts = [answer_ids(self.tok, a) for a in answers]
        total = [0.0] * len(conts)
        for text in texts:
            prefix = prompt_ids(self.tok, text, self.few_shot)
            if len(prefix) + max(map(len, conts)) > self.max_len:
                return None
            scores = self.score(prefix, conts)
            if len(scores) != len(conts):
                raise DictPassError(f"score returned {len(scores)} log-probs for {len(conts)} continuations")
            total = [a + b for a, b in zip(total, scores)]
        return total


# ---------------------------------------------------------------- scorers
def common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every sequence shares, leaving each at least one token."""
    n = min(len(s) for s in seqs) - 1
    first = seqs[0]
    for i in range(max(n, 0)):
        if any(s[i] != first[i] for s in seqs):
            return i
    return max(n, 0)


def hf_scorer(model: Any, pad_id: int | None = None, max_rows: int = 16) -> ScoreFn:
    """ScoreFn of a Hugging Face causal LM: the prompt and the tokens every continuation shares
    run once; the continuations' own tokens run batched over that KV cache (right-padded,
    masked), `max_rows` at a time (one forward for a sentence's usual few candidates; the
    logits of a batch are rows x tokens x vocabulary floats, 49k wide for SmolLM2)."""
    import copy
    import inspect

    import torch

    # transformers 5 names the cache argument `cache` (`past_key_values` is deprecated there)
    cache_kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    pad = pad_id if pad_id is not None else 0

    def rows(cache, start: int, tails: list[list[int]], dev) -> list[float]:
        """Summed log-probs of tails[r][1:] after the cached head (tails[r][0] is scored by the head)."""
        width, n = max(map(len, tails)), len(tails)
        ids = torch.tensor([t + [pad] * (width - len(t)) for t in tails], device=dev)
        valid = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in tails], device=dev)
        cache.batch_repeat_interleave(n)
        mask = torch.cat([torch.ones(n, start, dtype=valid.dtype, device=dev), valid], 1)
        pos = torch.arange(start, start + width, device=dev).expand(n, -1)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                       **{cache_kw: cache}).logits[:, :-1].float()  # position t predicts tail token t + 1
        # log-softmax at the tail's tokens only: no second vocabulary-wide tensor
        picked = logits.gather(-1, ids[:, 1:, None])[..., 0] - logits.logsumexp(-1)
        return (picked * valid[:, 1:]).sum(1).tolist()

    def score(prefix: Sequence[int], conts: Sequence[Sequence[int]]) -> list[float]:
        if not prefix or not conts or any(not c for c in conts):
            raise DictPassError("score needs a non-empty prefix and non-empty continuations")
        dev = next(model.parameters()).device
        shared = common_prefix(conts)
        head = list(prefix) + list(conts[0][:shared])
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([head], device=dev), use_cache=True)
            head_lp = torch.log_softmax(out.logits[0].float(), -1)
            base = sum(float(head_lp[len(prefix) - 1 + t, conts[0][t]]) for t in range(shared))
            last = head_lp[-1]  # the distribution of each continuation's first own token
            cache = out["cache"] if "cache" in out else out["past_key_values"]  # transformers 5.x / 4.x
            tails = [list(c[shared:]) for c in conts]
            scores: list[float] = []
            for s in range(0, len(tails), max_rows):
                part = tails[s:s + max_rows]
                # every batch grows (and writes) the cache: each but the last gets its own copy
                mine = cache if s + max_rows >= len(tails) else copy.deepcopy(cache)
                got = rows(mine, len(head), part, dev)
                scores += [base + float(last[t[0]]) + r for t, r in zip(part, got)]
            return scores
    return score


def reference_score(model: Any, prefix: Sequence[int], conts: Sequence[Sequence[int]]) -> list[float]:
    """One full forward per continuation, no cache, no padding: what hf_scorer must equal."""
    import torch

    dev = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for c in conts:
            ids = torch.tensor([list(prefix) + list(c)], device=dev)
            lp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
            out.append(sum(float(lp[len(prefix) - 1 + t, tok]) for t, tok in enumerate(c)))
    return out
