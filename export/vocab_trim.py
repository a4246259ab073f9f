"""Vocabulary trim for export (issue 26): keep only the tokens English typing needs.

Gemma 3 270M has a 262,144-token vocabulary: its embedding and (tied) LM head are ~170M of its
270M parameters, and the export quantizes the two separately, so an INT4 .pte holds both
copies. Most of those rows are other scripts and languages a typing corrector never reads or
writes. The trim keeps:

- every token of the corpus, tokenized as the model meets it: each input inside the real prompt
  (core.prompt, so every template token is kept) and alone, each output as the answer (with its
  end-of-turn token), in at least `min_count` pairs;
- every added/special token but Gemma's untrained `<unusedN>` placeholders, and all 256
  byte-fallback tokens `<0x00>`..`<0xFF>`: any text stays representable (a character without
  a kept token falls back to its UTF-8 bytes), so decode(encode(text)) == text still holds;
- the BPE merge closure: the merges BPE itself uses to build each kept token, recursively, so
  text made of corpus tokens tokenizes to the same tokens as with the full vocabulary.

Only SentencePiece-style BPE with byte fallback (Gemma) is trimmed: a byte-level BPE would need
its byte alphabet kept instead, which nothing here needs yet.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from core.config import ConfigError

# vocab_trim=auto trims only above this size. SmolLM2 (49,152) and the tiny model stay whole:
# their embedding is already small next to the 100 MB target, and their files stay byte-identical
# to what earlier exports wrote. Gemma 3 (262,144) is trimmed.
AUTO_TRIM_ABOVE = 100_000
BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))
# Gemma's 6,242 reserved placeholders: never trained, never typed; each costs a row twice.
PLACEHOLDER = re.compile(r"<unused\d+>")
TOKENIZE_BATCH = 10_000


class VocabTrimError(ConfigError):
    """The trim cannot be made (corpus, tokenizer kind) or broke an invariant."""


@dataclass(frozen=True)
class VocabTrim:
    """A trim decided once per export and handed to each recipe's process (picklable)."""
    old_ids: tuple[int, ...]  # kept ids of the full vocabulary, ascending; new id = index
    full_vocab: int
    corpus: str
    min_count: int
    tokenizer_json: str  # the trimmed tokenizer.json, serialized

    @property
    def kept(self) -> int:
        return len(self.old_ids)

    def describe(self) -> dict[str, Any]:
        """The metadata entry: what was kept, from what, and the map back to the full ids."""
        return {"kept": self.kept, "full_vocab": self.full_vocab, "corpus": self.corpus,
                "min_count": self.min_count,
                "tokenizer_sha256": hashlib.sha256(self.tokenizer_json.encode()).hexdigest(),
                "old_ids": list(self.old_ids)}


def new_ids(old_ids: Iterable[int]) -> dict[int, int]:
    """Full-vocabulary id -> trimmed id (kept ids in ascending order are renumbered 0..K-1)."""
    return {old: new for new, old in enumerate(old_ids)}


# ---------------------------------------------------------------- the tokenizer.json
def unsupported(tj: dict) -> str | None:
    """Why this tokenizer.json cannot be trimmed, or None."""
    model = tj.get("model") or {}
    if model.get("type") != "BPE":
        return f"model type {model.get('type')!r} (only BPE is trimmed)"
    if not model.get("byte_fallback"):
        return "BPE without byte_fallback (a trimmed vocabulary could not spell every text)"
    missing = [t for t in BYTE_TOKENS if t not in model.get("vocab", {})]
    if missing:
        return f"byte_fallback but {len(missing)} byte tokens missing (e.g. {missing[0]})"
    return None


def _pair(merge: str | list[str]) -> tuple[str, str]:
    """A merge as written: "a b" (older files) or ["a", "b"]."""
    if isinstance(merge, str):
        a, b = merge.split(" ", 1)
        return a, b
    return merge[0], merge[1]


def always_kept(tj: dict) -> set[int]:
    """Added/special tokens (placeholders aside), the byte tokens and unk."""
    vocab = tj["model"]["vocab"]
    ids = {a["id"] for a in tj.get("added_tokens", []) if not PLACEHOLDER.fullmatch(a["content"])}
    ids |= {vocab[t] for t in BYTE_TOKENS}
    unk = tj["model"].get("unk_token")
    if unk in vocab:
        ids.add(vocab[unk])
    return ids


def _bpe_merges(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """BPE over `symbols` as HF's BPE runs it (lowest rank first, leftmost among equals);
    returns the merges applied, in order."""
    done = []
    while len(symbols) > 1:
        best = min(range(len(symbols) - 1),
                   key=lambda i: (ranks.get((symbols[i], symbols[i + 1]), 1 << 62), i))
        pair = (symbols[best], symbols[best + 1])
        if pair not in ranks:
            break
        done.append(pair)
        symbols[best:best + 2] = [pair[0] + pair[1]]
    return done


def merge_closure(tj: dict, seed: Iterable[int]) -> set[int]:
    """`seed` plus, recursively, both parts of every merge BPE applies to build each token.

    Why this is enough: BPE over a text never merges across the ends of a token it ends up
    emitting, so each emitted token is built exactly as BPE builds its own string alone. If
    every emitted token, and everything built on the way, is kept with its merges, the trimmed
    BPE finds the same lowest-rank merge at every step (its merges are a subset of the full
    list in the same order) and emits the same tokens."""
    vocab = tj["model"]["vocab"]
    inv = {i: t for t, i in vocab.items()}
    ranks = {_pair(m): r for r, m in enumerate(tj["model"]["merges"])}
    by_result: dict[str, list[tuple[str, str]]] = {}
    for a, b in ranks:
        by_result.setdefault(a + b, []).append((a, b))
    kept, todo = set(seed), list(seed)
    while todo:
        tok = inv.get(todo.pop())
        if tok is None or tok not in by_result:
            continue
        merges = _bpe_merges(list(tok), ranks)
        if not merges or merges[-1][0] + merges[-1][1] != tok:
            merges = by_result[tok]  # not built from its characters alone: keep every way in
        for a, b in merges:
            for part in (a, b, a + b):
                pid = vocab.get(part)
                if pid is not None and pid not in kept:
                    kept.add(pid)
                    todo.append(pid)
    return kept


def trim_tokenizer_json(tj: dict, old_ids: list[int]) -> dict:
    """The same tokenizer over the kept ids, renumbered 0..K-1 in old-id order: merges kept
    iff both parts and the result are kept (same order, so the same ranks among them), added
    tokens and the post-processor's ids remapped. Everything else is copied as it is, so the
    C++ tokenizer loads it as it loads the full file."""
    new_of = new_ids(old_ids)
    out = json.loads(json.dumps(tj))  # a deep copy
    model = out["model"]
    vocab = {t: new_of[i] for t, i in sorted(tj["model"]["vocab"].items(), key=lambda kv: kv[1])
             if i in new_of}
    model["vocab"] = vocab
    model["merges"] = [m for m in tj["model"]["merges"]
                       if all(p in vocab for p in (*_pair(m), "".join(_pair(m))))]
    out["added_tokens"] = [{**a, "id": new_of[a["id"]]} for a in tj.get("added_tokens", [])
                           if a["id"] in new_of]
    out["post_processor"] = _remap_ids(out.get("post_processor"), new_of)
    return out


def _remap_ids(node: Any, new_of: dict[int, int]) -> Any:
    """Every `"ids": [...]` list inside a post-processor (TemplateProcessing's special
    tokens), remapped; an id that was dropped is an error, not a silent wrong token."""
    if isinstance(node, list):
        return [_remap_ids(x, new_of) for x in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k == "ids" and isinstance(v, list):
            lost = [i for i in v if i not in new_of]
            if lost:
                raise VocabTrimError(f"post_processor names token ids {lost} that the trim dropped")
            out[k] = [new_of[i] for i in v]
        else:
            out[k] = _remap_ids(v, new_of)
    return out


# ---------------------------------------------------------------- choosing the ids
def read_corpus(path: str | Path) -> list[tuple[str, str]]:
    """(input, output) pairs of a JSON Lines pairs file (the project's training data)."""
    from evaluation.eval_sets import BenchmarkError, read_jsonl

    try:
        return [(p.input, p.reference) for p in read_jsonl(Path(path)).pairs]
    except (BenchmarkError, OSError) as exc:
        raise VocabTrimError(f"vocab_trim: cannot read corpus {path}: {exc}") from None


def count_tokens(tok, pairs: list[tuple[str, str]]) -> Counter:
    """In how many pairs each id occurs, as the model meets them: the input inside the real
    prompt, the output as the answer (core.prompt); and the input alone, as the dictionary
    pass and the span tools tokenize text outside a prompt (a text's first word has no
    leading '▁' there)."""
    from core import prompt

    counts: Counter = Counter()
    eos = prompt.answer_eos_id(tok)
    for at in range(0, len(pairs), TOKENIZE_BATCH):
        chunk = pairs[at:at + TOKENIZE_BATCH]
        texts = [t for i, o in chunk for t in (prompt.build_prompt(tok, i), i, o)]
        ids = tok(texts, add_special_tokens=False)["input_ids"]
        for k in range(len(chunk)):
            counts.update({eos, *ids[3 * k], *ids[3 * k + 1], *ids[3 * k + 2]})
    return counts


def choose_ids(tj: dict, counts: Counter, min_count: int = 1) -> list[int]:
    """The kept ids, ascending: ids in >= min_count corpus pairs, the always-kept ones,
    and their merge closure."""
    seed = {i for i, c in counts.items() if c >= min_count} | always_kept(tj)
    return sorted(merge_closure(tj, seed))


def build_trim(tok, tj: dict, corpus: str | Path, min_count: int = 1) -> VocabTrim:
    """Everything the export needs, computed once: kept ids and the trimmed tokenizer.json."""
    why = unsupported(tj)
    if why:
        raise VocabTrimError(f"vocab_trim: this tokenizer cannot be trimmed: {why}; use vocab_trim=off")
    old_ids = choose_ids(tj, count_tokens(tok, read_corpus(corpus)), min_count)
    trimmed = trim_tokenizer_json(tj, old_ids)
    return VocabTrim(tuple(old_ids), len(tj["model"]["vocab"]), str(corpus), min_count,
                     json.dumps(trimmed, ensure_ascii=False))


def source_tokenizer_json(src, tok) -> dict:
    """The source's tokenizer.json as the trim reads it: the file when the folder has one."""
    f = Path(src.tokenizer_dir or "") / "tokenizer.json"
    return json.loads(f.read_text(encoding="utf-8") if f.is_file() else tok.backend_tokenizer.to_str())


def trim_from_record(tj: dict, record_file: str | Path) -> VocabTrim:
    """The trim a vocab_trim.json recorded (its kept ids), rebuilt on this tokenizer without
    the corpus: a release ships the record so its trimmed base is rebuilt exactly. The
    rebuilt tokenizer.json must hash as recorded, or the record is of another tokenizer."""
    from core.files import read_json

    rec = read_json(record_file, VocabTrimError, what="vocab trim record")
    ids, vocab = rec.get("old_ids"), len(tj["model"]["vocab"])
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and 0 <= i < vocab for i in ids) \
            or ids != sorted(set(ids)):
        raise VocabTrimError(f"{record_file}: old_ids must be ascending distinct ids below {vocab:,}")
    trimmed = json.dumps(trim_tokenizer_json(tj, ids), ensure_ascii=False)
    trim = VocabTrim(tuple(ids), vocab, str(rec.get("corpus", "")), int(rec.get("min_count", 0)), trimmed)
    want, got = rec.get("tokenizer_sha256"), trim.describe()["tokenizer_sha256"]
    if want != got:
        raise VocabTrimError(f"{record_file}: the tokenizer it trims is not this model's (tokenizer_sha256 "
                             f"{want} recorded, {got} rebuilt)")
    return trim


def plan(mode: str, corpus: str, min_count: int, src, tok=None) -> VocabTrim | None:
    """The export config's trim for this source: None when off, or auto on a small vocabulary.
    `tok`: the source tokenizer, loaded here when not given (and not at all when off)."""
    if mode == "off":
        return None
    if tok is None:
        from export.source import load_source_tokenizer

        tok = load_source_tokenizer(src)
    if mode == "auto" and len(tok) <= AUTO_TRIM_ABOVE:
        return None
    tj = source_tokenizer_json(src, tok)
    why = unsupported(tj) if mode == "auto" else None
    if why:  # e.g. Qwen3's byte-level BPE: exported whole, as before
        print(f"[export] vocab_trim=auto: not trimming ({why})", flush=True)
        return None
    path = resolve_corpus(corpus, src, len(tok))
    print(f"[export] vocab_trim: choosing tokens from {path}", flush=True)
    return build_trim(tok, tj, path, min_count)


def resolve_corpus(corpus: str, src, vocab: int) -> Path:
    """vocab_corpus: a pairs file, or auto = the training run's data.train, else data/train_data.json."""
    from core.files import check_input
    from core.paths import REPO_ROOT, input_path
    from core.runs import saved_config

    if corpus != "auto":
        p = input_path(corpus)
        if not p.exists():
            raise VocabTrimError(f"vocab_corpus: file not found: {p}")
        return check_input(p, "vocab_corpus", VocabTrimError, want="file")
    recorded = ((saved_config(src.run_dir) or {}).get("data") or {}).get("train") if src.run_dir else None
    candidates = [input_path(recorded)] if isinstance(recorded, str) else []
    for p in candidates + [REPO_ROOT / "data/train_data.json"]:
        if p.is_file():
            return p
    raise VocabTrimError(f"vocab_trim: the vocabulary has {vocab:,} tokens (> {AUTO_TRIM_ABOVE:,}, so it is "
                         f"trimmed) but vocab_corpus=auto found no training data (the run's data.train, "
                         f"data/train_data.json): pass vocab_corpus=<pairs file> or vocab_trim=off")


# ---------------------------------------------------------------- the model
def slice_model(model, old_ids: list[int] | tuple[int, ...]) -> None:
    """Keep the embedding and LM-head rows of the kept ids (in place), and remap every
    special id in config and generation_config. A tied head stays tied to the new rows."""
    import torch

    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    rows = emb.weight.shape[0]
    if max(old_ids) >= rows:
        raise VocabTrimError(f"vocab_trim: token id {max(old_ids)} has no embedding row ({rows} rows)")
    idx = torch.tensor(old_ids, dtype=torch.long)
    tied = head is not None and head.weight is emb.weight
    emb.weight = torch.nn.Parameter(emb.weight.data[idx].clone(), requires_grad=False)
    emb.num_embeddings = len(old_ids)
    new_of = new_ids(old_ids)
    if getattr(emb, "padding_idx", None) is not None:
        emb.padding_idx = new_of.get(emb.padding_idx)
    if head is not None:
        head.weight = emb.weight if tied else torch.nn.Parameter(head.weight.data[idx].clone(),
                                                                 requires_grad=False)
        if getattr(head, "bias", None) is not None:
            head.bias = torch.nn.Parameter(head.bias.data[idx].clone(), requires_grad=False)
        head.out_features = len(old_ids)
    model.config.vocab_size = len(old_ids)
    for cfg in (model.config, getattr(model, "generation_config", None)):
        remap_special_ids(cfg, new_of)


def remap_special_ids(cfg, new_of: dict[int, int]) -> None:
    for key in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        value = getattr(cfg, key, None) if cfg is not None else None
        if value is None:
            continue
        many = isinstance(value, (list, tuple))
        ids = [new_of.get(int(v)) for v in (value if many else [value])]
        if None in ids:
            raise VocabTrimError(f"vocab_trim: {key} {value} was not kept")
        setattr(cfg, key, ids if many else ids[0])


def trimmed_tokenizer(tok, trim: VocabTrim, folder: str | Path):
    """The source tokenizer (instruction, chat template, special tokens) over the trimmed
    tokenizer.json, saved to and loaded from `folder` as every stage loads one."""
    from core.loading import load_tokenizer
    from core.runs import atomic_write_text

    tok.save_pretrained(str(folder))
    atomic_write_text(Path(folder) / "tokenizer.json", trim.tokenizer_json)
    return load_tokenizer(str(folder))


# ---------------------------------------------------------------- a trimmed model folder
def write_trimmed_model(model_dir: str, out: str | Path, corpus: str = "auto",
                        min_count: int = 1, record: str = "") -> VocabTrim:
    """The source model (a folder, a training run or an adapter, merged) with the trimmed
    vocabulary, as an HF folder (model, tokenizer, `vocab_trim.json`): what `make eval` scores
    to see what the trim costs on every set before an export keeps it; `record`: the kept ids
    of an earlier trim's vocab_trim.json instead of a corpus. Written to a sibling temporary
    folder and renamed into place, so a failed run leaves no half folder."""
    import shutil
    import tempfile

    from core.loading import resolve
    from core.runs import atomic_write_json
    from export.source import load_source_model, load_source_tokenizer, resolve_source

    out = Path(out)
    if out.exists():
        raise VocabTrimError(f"--out {out} exists: pick a new folder (a trimmed model is never overwritten)")
    if str(model_dir).startswith(("gguf:", "builtin:")):  # a base spec: its local folder
        model_dir = resolve(str(model_dir))
    src = resolve_source(model_dir)
    tok = load_source_tokenizer(src)
    if record:
        trim = trim_from_record(source_tokenizer_json(src, tok), record)
    else:
        trim = plan("on", corpus, min_count, src, tok)
    model = load_source_model(src)
    slice_model(model, trim.old_ids)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        trimmed_tokenizer(tok, trim, tmp)
        model.save_pretrained(str(tmp))
        atomic_write_json(tmp / "vocab_trim.json", {**trim.describe(), "source": str(model_dir)})
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return trim


def main(argv: list[str] | None = None) -> int:
    import argparse

    from core.cli import run_cli

    ap = argparse.ArgumentParser(prog="python -m export.vocab_trim", description=write_trimmed_model.__doc__)
    ap.add_argument("--model", required=True, help="a model folder, a training run or an adapter")
    ap.add_argument("--out", required=True, help="the new folder of the trimmed model")
    ap.add_argument("--corpus", default="auto",
                    help="pairs file whose tokens are kept (auto: the run's data.train)")
    ap.add_argument("--min-count", type=int, default=1, help="pairs a kept token must occur in")
    ap.add_argument("--ids", default="", help="an earlier trim's vocab_trim.json: keep its ids (no corpus)")
    args = ap.parse_args(argv)

    def body() -> int:
        if args.min_count < 1:
            raise VocabTrimError(f"--min-count must be >= 1, got {args.min_count}")
        trim = write_trimmed_model(args.model, args.out, args.corpus, args.min_count, args.ids)
        print(f"wrote {args.out}: {trim.kept:,} of {trim.full_vocab:,} tokens kept (corpus {trim.corpus})")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    import sys

    sys.exit(main())
