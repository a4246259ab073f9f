"""The dataset builder: sources -> clean sentences -> noisy pairs -> dedup, split,
decontaminate -> data/train_data.json + data/eval_data.json (JSON Lines) and
runs/data/<name>/stats.json.

Sources stream raw units (32 KB blocks of a text file, paragraphs, rows) in a fixed
order; workers clean, split, decontaminate and noise them with one RNG per unit seeded
by (seed, pass, source, unit number), so the result does not depend on the number of
workers. Which split a sentence lands in is a hash of its normalised text, so a
sentence never appears on both sides. The main process keeps the global state (seen
keys, split quotas) and streams pairs straight to temp files that are renamed into
place only when the build succeeds. If the corpus runs out, later passes make several
noisy variants per sentence."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import zlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from core.paths import REPO_ROOT, check_not_an_input, check_output_dir, input_path, output_path
from core.runs import (
    atomic_write_json,
    atomic_write_text,
    check_run_name,
    config_diff,
    default_run_name,
    make_run_dir,
    refuse_mismatch,
    remove_stale_temps,
    run_lock,
    saved_config,
)
from datagen.config import DataConfig
from datagen.decontam import dedup_key, load_eval_keys
from datagen.messages import fix_sentence, is_sentence
from datagen.noise import Noiser, sentence_rng
from datagen.sources import BLOCK_BYTES, DataError, expand, source_units
from datagen.stats import Stats, cer
from datagen.text import CleanConfig, normalize, reject_reason, split_sentences

_STATE: dict = {}
# Test hook: pool workers exit at once on their first chunk when this environment variable is
# "exit" in the main process (read there and passed in the worker state, since a forkserver may
# predate the variable), so the tests can prove a dead worker is noticed. No real code sets it.
WORKER_EXIT_ENV = "DATAGEN_TEST_WORKER_EXIT"
_q = json.encoder.encode_basestring  # the C string encoder json.dumps(ensure_ascii=False) uses
PAIR_SOURCES = ("pairs", "hf_pairs")


def _init_worker(state: dict) -> None:
    global _STATE
    _STATE = state


def _worker_chunk(task: tuple) -> tuple[list[tuple], dict[str, int], list[str]]:
    """process_chunk in a pool worker (the test hook lives here, never in the main process)."""
    if _STATE.get("test_worker_exit") == "exit":
        os._exit(3)
    return process_chunk(task)


class WorkerDied(RuntimeError):
    """A pool worker exited without a result (killed, out of memory, crashed)."""


def _h(*parts: object) -> int:
    """A 64-bit hash that is the same in every process: workers no longer share the main
    process's salted str hash() since they are not forked from it."""
    data = "\x00".join(map(str, parts)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def eval_hash(key: str, seed: int) -> float:
    """Where a sentence falls in [0, 1): below the eval share it belongs to eval, forever."""
    return zlib.crc32(f"{seed}:{key}".encode()) / 2**32


def _record(key: str, to_eval: bool, inp: str, out: str, errors: list[str], source: str, given: bool,
            variant: int = 0) -> tuple:
    """What the main process needs of a pair, computed here in the worker (hashes, CER,
    the JSON line) so the single-threaded main loop stays cheap."""
    line = (f'{{"input": {_q(inp)}, "output": {_q(out)}, "source": {_q(source)}, '
            f'"errors": [{", ".join(map(_q, errors))}]}}')
    kh = _h(key) if not variant else _h(key, variant)  # dedup is per variant
    return (kh, _h(out), _h(inp, out), to_eval, errors, line, cer(inp, out), inp == out, given, source,
            is_sentence(out))


def process_chunk(task: tuple) -> tuple[list[tuple], dict[str, int], list[str]]:
    """Clean, filter, decontaminate and noise one chunk: (records, counts, skip notes).
    Each unit (a ~32 KB block of a text file, a paragraph, a row, a sentence) gets its own
    RNG seeded by (seed, pass, source, unit number in that source), and its sentences draw
    from it in order: the noise depends neither on chunk sizes nor on the number of
    workers, and seeding once per unit (not per sentence) saves a Mersenne Twister init
    (~4 us) per pair."""
    pass_no, variants, source_no, source, first_unit, units = task
    st = _STATE
    noiser, clean_share, clean, form, join = st["per_source"][source_no]
    contam = st["contam"]
    records, counts, notes = [], {}, []
    for u, unit in enumerate(units):
        key_no = (((pass_no << 16) | source_no) << 48) | (first_unit + u)
        rng = sentence_rng(st["seed"], key_no)
        shaped = _shaped(unit, clean, form, counts, notes)
        if join:  # its own RNG: a source without `join` draws the same noise as before
            shaped = _joined(shaped, join, sentence_rng(st["seed"], key_no ^ JOIN_KEY_BIT), clean)
        for kind, a, s in shaped:
            r = None if kind == "pair" else reject_reason(s, clean)
            if r is None and form == "sentence" and kind != "pair" and not is_sentence(s):
                r = "not_sentence"
            key = dedup_key(s) if r is None else ""
            to_eval = r is None and eval_hash(key, st["seed"]) < st["eval_share"]
            # decontamination guards training only: an eval-bound sentence may be in the
            # previous eval_data.json, which keeps eval stable from one build to the next
            r = r or ("contaminated" if not to_eval and key in contam else None)
            if r:
                name = r if r == "contaminated" else f"rejected_{r}"
                counts[name] = counts.get(name, 0) + 1
                continue
            if kind == "pair":
                inp = normalize(a)
                records.append(_record(key, to_eval, inp, s, ["given"] if inp != s else [], source, True))
                continue
            for v in range(variants):  # later passes: several noisy versions per sentence
                noisy, errors = noiser(s, rng, _clean_share(clean_share, variants, v))
                records.append(_record(key, to_eval, noisy, s, errors, source, False, v))
    return records, counts, notes


JOIN_KEY_BIT = 1 << 47  # unit numbers stay far below it


def _shaped(unit: tuple, clean, form: str, counts: dict, notes: list) -> list[tuple[str, str, str]]:
    """A unit's sentences as (kind, raw, sentence), shaped by the source's `form`; skips and
    rejected blocks are counted."""
    out = []
    for kind, a, b, where in expand(unit):
        if kind == "skip":
            counts[f"skipped_{a}"] = counts.get(f"skipped_{a}", 0) + 1
            notes.append(f"{where}: {a}")
            continue
        sentences, reason = _sentences(kind, a, b, clean)
        if reason:
            counts[f"rejected_{reason}"] = counts.get(f"rejected_{reason}", 0) + 1
        for s in sentences:
            out.append((kind, a, fix_sentence(s) if form == "fix" and kind != "pair" else s))
    return out


def _joined(shaped: list[tuple], share: float, rng, clean) -> list[tuple]:
    """Each sentence, with probability `share`, sent together with the next one as one message.
    Only whole sentences join, and only when the message still fits the clean limits."""
    out, i = [], 0
    while i < len(shaped):
        kind, a, s = shaped[i]
        if i + 1 < len(shaped) and rng.random() < share:
            nxt = shaped[i + 1]
            both = f"{s} {nxt[2]}"
            if (kind != "pair" and nxt[0] != "pair" and is_sentence(s) and is_sentence(nxt[2])
                    and reject_reason(both, clean) is None):
                out.append((kind, a, both))
                i += 2
                continue
        out.append(shaped[i])
        i += 1
    return out


def _clean_share(share: float, variants: int, v: int) -> float | None:
    """A sentence has one clean pair at most (a second would be a duplicate), so with k
    variants the first one is clean more often and the rest never: the share of clean
    pairs stays near the configured one (pass 0's clean copies take part of it)."""
    if variants == 1:
        return None
    return min(0.95, share * variants) if v == 0 else 0.0


def _sentences(kind: str, a: str, b: str | None, clean) -> tuple[list[str], str | None]:
    """The clean sentences of a unit (or why there are none)."""
    if kind == "pair":
        inp, out = normalize(a), normalize(b)
        # the user's own pairs are trusted: only empty or overlong ones are dropped
        if not inp or not out:
            return [], "empty"
        return ([], "too_long") if max(len(inp), len(out)) > 2 * clean.max_chars else ([out], None)
    text = normalize(a)
    return ([text] if kind == "sent" else split_sentences(text)), None


def _pool_context():
    """forkserver where there is one: a worker is forked from a clean server process, never
    from this one after threads exist (tqdm's monitor, BLAS), which can leave it dead."""
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_chunks(tasks: Iterator[tuple], workers: int, state: dict) -> Iterator[tuple]:
    """Results in task order; at most 2 chunks per worker in flight (bounded memory). A
    worker that dies breaks the pool, which raises WorkerDied here instead of waiting forever."""
    if workers <= 1:
        _init_worker(state)
        for t in tasks:
            yield process_chunk(t)
        return
    pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_init_worker,
                               initargs=(state,))
    try:
        pending: deque = deque()
        for t in tasks:
            pending.append(pool.submit(_worker_chunk, t))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool as exc:
        raise WorkerDied(str(exc)) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _chunked(units: Iterator[tuple], budget: int) -> Iterator[tuple[int, list[tuple]]]:
    """(number of the first unit, units) with about `budget` characters per chunk."""
    chunk, size, first = [], 0, 0
    for u in units:
        chunk.append(u)
        size += BLOCK_BYTES if u[0] == "block" else len(u[1]) + 40
        if size >= budget:
            yield first, chunk
            first += len(chunk)
            chunk, size = [], 0
    if chunk:
        yield first, chunk


def _tasks(cfg: DataConfig, pass_no: int, variants: int = 1) -> Iterator[tuple]:
    """Chunks in a fixed order: the user's pairs files first (so a small train_pairs never
    crowds them out), then every other source round-robin."""
    streams = [(no, src.name, _chunked(source_units(src, cfg.bad_lines, cfg.clean.max_line_chars),
                                       cfg.chunk_chars))
               for no, src in enumerate(cfg.sources) if pass_no == 0 or src.kind not in PAIR_SOURCES]
    given = [s for s in streams if cfg.sources[s[0]].kind in PAIR_SOURCES]
    for entry in given:
        for chunk in entry[2]:
            yield (pass_no, variants, entry[0], entry[1]) + chunk
    streams = [s for s in streams if s not in given]
    while streams:
        for entry in list(streams):
            chunk = next(entry[2], None)
            if chunk is None:
                streams.remove(entry)
                continue
            yield (pass_no, variants, entry[0], entry[1]) + chunk


class _PairWriter:
    """Streams JSON lines to hidden temp files; `commit` renames them into place, and
    anything else (an error, Ctrl-C) deletes them, so no half-written file is ever left."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out_dir)  # what a build killed with -9 left behind
        self.final = {s: out_dir / f"{s}_data.json" for s in ("train", "eval")}
        self.tmp = {s: out_dir / f".{p.name}.{os.getpid()}.tmp" for s, p in self.final.items()}
        self.fh = {s: open(p, "w", encoding="utf-8") for s, p in self.tmp.items()}

    def write(self, split: str, line: str) -> None:
        self.fh[split].write(line + "\n")

    def commit(self) -> None:
        for fh in self.fh.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        for s in self.fh:
            os.replace(self.tmp[s], self.final[s])

    def abort(self) -> None:
        for s, fh in self.fh.items():
            fh.close()
            self.tmp[s].unlink(missing_ok=True)


def decontamination_paths(cfg: DataConfig) -> list[Path]:
    paths = [input_path(p) for p in cfg.decontaminate]
    if cfg.decontaminate_defaults:
        for p in (REPO_ROOT.parent / "shared" / "data" / "eval", REPO_ROOT / "evaluation" / "devsets",
                  output_path(cfg.out_dir) / "eval_data.json"):
            if p.exists() and p.resolve() not in {q.resolve() for q in paths}:
                paths.append(p)
    return paths


def _state(cfg: DataConfig, contam: set[str]) -> dict:
    from datagen.misspellings import load_misspellings

    real = load_misspellings(input_path(cfg.noise.misspellings_path)) if cfg.noise.misspellings_path else None
    share = cfg.eval_pairs / (cfg.train_pairs + cfg.eval_pairs)
    # one noise model per profile; a messages profile without its own lists uses the prose ones
    noisers = {"prose": Noiser(cfg.noise, real)}
    if any(src.profile == "messages" for src in cfg.sources):
        mpath = cfg.messages_noise.misspellings_path
        own = load_misspellings(input_path(mpath)) if mpath else real
        noisers["messages"] = Noiser(cfg.messages_noise, own)
    return {"seed": cfg.seed, "contam": contam, "test_worker_exit": os.environ.get(WORKER_EXIT_ENV),
            "eval_share": share,
            # per source number: (noise model, its clean share, clean config, reference form, join)
            "per_source": [(noisers[src.profile], cfg.noise_for(src).clean_share, _source_clean(cfg, src),
                            src.form, src.join) for src in cfg.sources]}


def _source_clean(cfg: DataConfig, src) -> CleanConfig:
    if not src.max_words or src.max_words >= cfg.clean.max_words:
        return cfg.clean
    return dataclasses.replace(cfg.clean, max_words=src.max_words, min_words=min(cfg.clean.min_words,
                                                                                  src.max_words))


DATA_RESUME_IGNORES = ("run_name", "runs_root", "progress", "workers", "chunk_chars", "min_fill", "fresh")


def check_startup(cfg: DataConfig) -> Path:
    """Names and output folders, checked before any corpus is read; returns the run folder."""
    if cfg.run_name:
        check_run_name(cfg.run_name, "--run")
    out = check_output_dir(output_path(cfg.out_dir), "out_dir")
    local = {f"sources[{k}].path": input_path(src.path) for k, src in enumerate(cfg.sources)
             if src.kind in ("text", "pairs") and src.path}
    # an evaluation set given to decontaminate against is an input too (its eval_data.json, say)
    local.update({f"decontaminate[{k}]": input_path(p) for k, p in enumerate(cfg.decontaminate)})
    for split in ("train", "eval"):  # the outputs never replace a corpus or pairs file read here
        check_not_an_input(out / f"{split}_data.json", "out_dir", local)
    runs = check_output_dir(output_path(cfg.runs_root), "runs_root")
    run_dir = runs / "data" / (cfg.run_name or "")
    if cfg.run_name and (run_dir / "stats.json").exists() and not cfg.fresh:
        from core.config import to_dict

        old = saved_config(run_dir) or {}
        refuse_mismatch(run_dir, config_diff(old, to_dict(cfg), DATA_RESUME_IGNORES),
                        "use another --run, or fresh=true to replace that run's stats")
    return run_dir


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the temp files are removed (kill -9 cannot be caught:
    the next build removes those, remove_stale_temps)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)
    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def build_dataset(cfg: DataConfig) -> dict:
    """Build train/eval pairs as configured; returns the stats (also in stats.json)."""
    t0 = time.perf_counter()
    check_startup(cfg)
    made = _missing_folders(output_path(cfg.out_dir))  # removed again when the build fails
    try:
        with run_lock(output_path(cfg.out_dir), "out_dir"):  # a second build into it is refused meanwhile
            return _build_dataset(cfg, t0)
    except BaseException:
        for folder in made:
            with contextlib.suppress(OSError):  # only while empty: never a file anyone wrote
                folder.rmdir()
        raise


def _build_dataset(cfg: DataConfig, t0: float) -> dict:
    name = cfg.run_name or default_run_name()  # the start time names a default run
    dpaths = decontamination_paths(cfg)
    contam, per_file = load_eval_keys(dpaths)
    state = _state(cfg, contam)
    workers = cfg.workers or os.cpu_count() or 1
    with _sigterm_as_exit():
        writer, stats, passes, workers = _build_files(cfg, state, workers)
    # made only now: a corpus with no usable sentence or a bad pairs line leaves no run folder behind
    run_dir = make_run_dir("data", name, cfg, cfg.seed, root=output_path(cfg.runs_root))
    out = stats.to_dict()
    elapsed = time.perf_counter() - t0
    out.update(passes=passes, workers=workers, seconds=round(elapsed, 2),
               pairs_per_second=round(sum(stats.split.values()) / elapsed, 1),
               requested={"train": cfg.train_pairs, "eval": cfg.eval_pairs},
               decontaminated_against={"files": per_file, "keys": len(contam)},
               files={s: str(p) for s, p in writer.final.items()}, run_dir=str(run_dir))
    short = {s: cfg.train_pairs if s == "train" else cfg.eval_pairs for s in ("train", "eval")}
    out["shortfall"] = {s: n - stats.split[s] for s, n in short.items() if stats.split[s] < n}
    atomic_write_json(run_dir / "stats.json", out)
    atomic_write_text(run_dir / "samples.txt", _samples(writer.final["train"]))
    return out


def _build_files(cfg: DataConfig, state: dict, workers: int) -> tuple[_PairWriter, Stats, int, int]:
    """Fill the temp files and rename them into place; a dead pool worker makes one retry in
    this process (the result does not depend on the number of workers), said on stderr."""
    while True:
        writer, stats = _PairWriter(output_path(cfg.out_dir)), Stats()
        try:
            passes = _fill(cfg, state, workers, writer, stats)
            check_result(cfg, stats, writer)
            writer.commit()
            return writer, stats, passes, workers
        except WorkerDied as exc:
            writer.abort()
            if workers <= 1:
                raise
            print(f"warning: a datagen worker died ({exc}); building again in one process",
                  file=sys.stderr, flush=True)
            workers = 1
        except BaseException:
            writer.abort()
            raise


def _missing_folders(path: Path) -> list[Path]:
    """`path` and its parents that do not exist yet, deepest first."""
    out = []
    while not path.exists() and path.parent != path:
        out.append(path)
        path = path.parent
    return out


def check_result(cfg: DataConfig, stats: Stats, writer: _PairWriter) -> None:
    """Before anything is replaced: not empty, every pairs file used, and not a much smaller
    dataset than the one already in out_dir (unless min_fill=0)."""
    if not stats.split:
        raise DataError("empty corpus: no usable sentence in " + ", ".join(s.name for s in cfg.sources)
                        + f" (dropped: {dict(stats.dropped) or 'nothing read'})")
    for src in cfg.sources:
        if src.kind in PAIR_SOURCES and not sum(stats.per_source.get(src.name, {}).values()):
            raise DataError(f"none of the pairs in {src.name} were used (dropped: "
                            f"{dict(stats.dropped) or 'nothing read'}); nothing was replaced")
    want = {"train": cfg.train_pairs, "eval": cfg.eval_pairs}
    for split, n in want.items():
        have, old = stats.split[split], _count_lines(writer.final[split])
        if n and have < cfg.min_fill * n and have < old:
            raise DataError(f"{split}: only {have} of the requested {n} pairs (the corpus ran out), and "
                            f"{writer.final[split]} holds {old}: kept the existing dataset. Give more "
                            "text, lower the sizes, or set min_fill=0 to replace it anyway")


def _count_lines(path: Path) -> int:
    """Non-blank lines of an existing pairs file (0 when there is none)."""
    if not path.is_file():
        return 0
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _fill(cfg: DataConfig, state: dict, workers: int, writer: _PairWriter, stats: Stats) -> int:
    """Consume chunks pass after pass until both splits are full; returns passes used.
    Pass 1 and later make several noisy variants of each sentence (as many as the
    previous pass's yield says are missing), so a 500k build from a 100k-sentence corpus
    reads and cleans the corpus twice, not five times."""
    want = {"train": cfg.train_pairs, "eval": cfg.eval_pairs}
    want["quota"] = _quotas(cfg, want)
    seen_pairs: set[int] = set()
    bar = tqdm(total=cfg.train_pairs + cfg.eval_pairs, unit="pair", disable=not cfg.progress, file=sys.stderr)
    variants = 1
    try:
        for pass_no in range(cfg.max_passes):
            before = dict(stats.split)
            seen: dict[int, int] = {}
            for records, counts, notes in _run_chunks(_tasks(cfg, pass_no, variants), workers, state):
                for reason, n in counts.items():
                    stats.drop(reason, n)
                stats.note(notes)
                for rec in records:
                    if _take(rec, want, stats, writer, seen, seen_pairs):
                        bar.update(1)
                if all(stats.split[s] >= want[s] for s in SPLITS):
                    return pass_no + 1
            gained = {s: stats.split[s] - before.get(s, 0) for s in SPLITS}
            if not any(gained.values()):
                return pass_no + 1
            variants = _next_variants(want, stats.split, gained, variants)
        return cfg.max_passes
    finally:
        bar.close()


SPLITS = ("train", "eval")


def _quotas(cfg: DataConfig, want: dict) -> dict[str, dict[str, int]]:
    """Pairs per source and split when the sources have shares (the last takes the rest)."""
    if not any(src.share for src in cfg.sources):
        return {}
    quota: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        left = want[split]
        for k, src in enumerate(cfg.sources):
            n = left if k == len(cfg.sources) - 1 else min(left, round(src.share * want[split]))
            quota.setdefault(src.name, {})[split] = n
            left -= n
    return quota


def _next_variants(want: dict, have: dict, gained: dict, variants: int) -> int:
    """Noisy versions per sentence for the next pass: enough to fill the larger gap."""
    need = [(want[s] - have[s]) * variants / gained[s] for s in SPLITS if have[s] < want[s] and gained[s]]
    return max(1, min(16, math.ceil(1.1 * max(need, default=1.0))))


def _take(rec: tuple, want: dict, stats: Stats, writer: _PairWriter, seen: dict, seen_pairs: set) -> bool:
    kh, oh, ph, to_eval, errors, line, c, is_clean, given, source, shaped = rec
    if not given:  # one pair per clean sentence and pass
        prev = seen.get(kh)
        if prev is not None:
            stats.drop("duplicate" if prev == oh else "near_duplicate")
            return False
        seen[kh] = oh
    if ph in seen_pairs:  # across passes: never the same pair twice
        stats.drop("duplicate_pair")
        return False
    split = "eval" if to_eval else "train"
    if stats.split[split] >= want[split]:
        stats.drop(f"{split}_full")
        return False
    quota = want["quota"].get(source)
    if quota is not None and stats.per_source.get(source, {}).get(split, 0) >= quota[split]:
        stats.drop(f"{split}_source_full")
        return False
    seen_pairs.add(ph)
    writer.write(split, line)
    stats.add(split, source, is_clean, errors, c, shaped)
    return True


def _samples(path: Path, n: int = 30) -> str:
    out = []
    with open(path, encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i >= n:
                break
            row = json.loads(line)
            out.append(f"IN : {row['input']}\nOUT: {row['output']}\n"
                       f"    {', '.join(row['errors']) or 'clean'}\n")
    return "\n".join(out)
