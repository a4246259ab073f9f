"""Evaluation: every corrector through the same metrics and the same guard.

    python -m evaluation --model DIR|RUN_DIR|PRESET --benchmarks ../shared/data/eval \
        [--backends hf,identity,symspell,pyspellchecker] [--limit N] [--run NAME] [key=value ...]

Writes runs/eval/<name>/ with metrics.json (every metric per benchmark and backend,
guarded and raw), model_test_results.csv (one row per sample and backend),
summary.md (backends side by side) and outputs/ (raw outputs, for resuming), then
copies metrics.json and model_test_results.csv to the repository root.
Scoring itself (`evaluation.scoring.score_outputs`) is shared with the other stages.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from core.cli import Flag, flag_overrides, printable, run_cli, stage_parser
from core.config import ConfigError, load_config
from core.errors import EvalError
from core.files import jsonl_lines
from core.loading import pick_base
from core.paths import REPO_ROOT, check_not_an_input, check_output_dir, input_path, output_path
from core.progress import progress
from core.runs import (
    ResumeError,
    atomic_write_json,
    atomic_write_text,
    check_run_name,
    config_diff,
    default_run_name,
    make_run_dir,
    refuse_mismatch,
    run_lock,
    sha256_file,
)
from evaluation.config import DEFAULT_CONFIG, EvalConfig
from evaluation.correctors import CorrectorError, make_corrector
from evaluation.eval_sets import Benchmark, load_benchmark, load_benchmarks
from evaluation.scoring import csv_text, guard_review, review_markdown, score_outputs, summary_markdown


def resolve_model(spec: str) -> str:
    """A run dir (its merged/ model), a model dir, or a preset name -> what hub loads."""
    if spec in ("tiny", "builtin:tiny"):
        return "builtin:tiny"
    for p in (Path(spec), REPO_ROOT / spec):
        if (p / "merged" / "config.json").is_file():
            return str(p / "merged")
        if (p / "config.json").is_file():
            return str(p)
        if p.exists():
            raise ConfigError(f"model {spec}: {p} holds neither config.json nor merged/config.json")
    preset = REPO_ROOT / "train" / "configs" / f"{spec}.yaml"
    if preset.is_file():
        return _preset_base(preset)
    raise ConfigError(f"model {spec!r} not found: give a training run dir, a model dir, or a preset "
                      f"(tiny, or a train/configs/<preset>.yaml); `make train` writes models/checkpoint")


def _preset_base(path: Path) -> str:
    """The base model a training preset starts from (its untrained baseline)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    model = data.get("model") if isinstance(data.get("model"), dict) else {}
    base, offline = model.get("base"), model.get("offline_base") or ""
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: no base model found (expected model.base)")
    return pick_base(base, offline)  # the offline GGUF when the Hub id cannot be loaded


def backend_options(cfg: EvalConfig, backend: str) -> dict[str, Any]:
    if backend != "hf":
        return {}
    h = cfg.hf
    opts: dict[str, Any] = {"batch_size": h.batch_size, "static_cache": h.static_cache}
    opts.update({k: v for k, v in (("device", h.device), ("dtype", h.dtype), ("few_shot", h.few_shot)) if v})
    return opts


# ---------------------------------------------------------------- running
BASELINES = ("identity", "symspell", "pyspellchecker")  # their outputs depend on no model


def model_identity(spec: str | None) -> dict[str, Any]:
    """What a model is, for the resume key: a local file or folder is its real path plus the
    sha256 of its top-level files (models/checkpoint is a link that moves with every training
    run); anything else (a Hub id, builtin:tiny) is its name."""
    if not spec:
        return {"path": None}
    p = Path(spec)
    if p.is_file():
        return {"path": str(p.resolve()), "sha256": sha256_file(p)}
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(x for x in p.iterdir() if x.is_file()):
            h.update(f"{f.name}:{sha256_file(f)}\n".encode())
        return {"path": str(p.resolve()), "sha256": h.hexdigest()}
    return {"path": spec}


def cache_key(cfg: EvalConfig, backend: str, model: str | None) -> dict[str, Any]:
    """Everything that decides a backend's raw outputs, besides the inputs (checked per line)."""
    spec = model_for(cfg, backend, model)
    opts = {k: v for k, v in backend_options(cfg, backend).items() if k in ("device", "dtype", "few_shot")}
    if backend == "hf" and "dtype" not in opts:
        # the default dtype depends on the machine (bf16 on CUDA and on CPUs with native bf16):
        # key the cache on the one that will actually run, not on ""
        opts["dtype"] = _effective_dtype(opts.get("device", ""))
    return {"backend": backend, "model": model_identity(spec), "options": opts}


def model_for(cfg: EvalConfig, backend: str, model: str | None) -> str | None:
    """The model a backend runs: its backend_models entry, else --model (resolved for hf, the
    .pte path as given for pte and device, `model` for a plug-in); a baseline runs none."""
    if backend in cfg.backend_models:
        return cfg.backend_models[backend]
    if backend in BASELINES:
        return None
    if backend in ("pte", "device"):
        return cfg.model or None
    return model


def _effective_dtype(device: str) -> str:
    from evaluation.correctors import default_device, default_dtype

    return str(default_dtype(default_device(device))).removeprefix("torch.")


def _input_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def open_cache(cache: Path, key: dict[str, Any], fresh: bool) -> None:
    """Check (or start) the cache's key file: outputs made by another model or with other
    options are never reused under this run's label; `fresh=true` discards them."""
    key_path = cache.with_suffix(".key.json")
    old = _read_json(key_path)
    if fresh or (old is None and not cache.exists()):
        cache.unlink(missing_ok=True)
        atomic_write_json(key_path, key)
        return
    if old is None:
        raise ResumeError(f"{cache} has no key file (made by an older version): "
                          "use another --run, or fresh=true to discard the cached outputs")
    refuse_mismatch(cache, config_diff(old, key),
                    "use another --run, or fresh=true to discard the cached outputs")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def run_backend(corrector, bench: Benchmark, cache: Path, chunk: int) -> tuple[list[str], list[float]]:
    """Raw outputs and per-sample latency (ms, the chunk's time shared out), resumable:
    finished chunks are appended to `cache` (JSON Lines) and reused on a rerun."""
    inputs = [p.input for p in bench.pairs]
    done = _read_cache(cache, inputs)
    cache.parent.mkdir(parents=True, exist_ok=True)
    bar = progress(desc=f"eval {bench.name}/{corrector.name}", total=len(inputs), unit="sent",
                   initial=len(done))
    with bar, cache.open("a", encoding="utf-8") as fh:
        for s in range(len(done), len(inputs), chunk):
            batch = inputs[s:s + chunk]
            t0 = time.perf_counter()
            outs = corrector.correct(batch)
            ms = (time.perf_counter() - t0) * 1000 / len(batch)
            if len(outs) != len(batch):
                raise CorrectorError(f"backend {corrector.name} returned {len(outs)} outputs "
                                     f"for {len(batch)} inputs")
            for k, o in enumerate(outs):
                done.append((o, ms))
                fh.write(_cache_line(s + k, batch[k], o, ms))
            fh.flush()
            bar.update(len(batch))
    done = done[:len(inputs)]
    return [o for o, _ in done], [ms for _, ms in done]


def _cache_line(i: int, inp: str, out: str, ms: float) -> str:
    return json.dumps({"i": i, "in": _input_id(inp), "output": out, "latency_ms": ms},
                      ensure_ascii=False) + "\n"


def _read_cache(path: Path, inputs: list[str]) -> list[tuple[str, float]]:
    """Cached outputs in order; a torn last line is dropped, an output cached for another
    input (the pairs file changed) is an error naming the line."""
    if not path.exists():
        return []
    lines, out = jsonl_lines(path.read_text(encoding="utf-8")), []
    for k, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            break  # an interrupted write: redo from here
        if not isinstance(obj, dict) or obj.get("i") != k:
            break
        if k < len(inputs) and obj.get("in") != _input_id(inputs[k]):
            raise ResumeError(f"{path}: line {k + 1} was cached for another input than line {k + 1} of "
                              "the evaluation set now (the set changed): use another --run, or "
                              "fresh=true to discard the cached outputs")
        out.append((obj["output"], float(obj["latency_ms"])))
    if len(out) != len(lines):
        atomic_write_text(path, "".join(_cache_line(k, inputs[k] if k < len(inputs) else "", o, ms)
                                        for k, (o, ms) in enumerate(out)))
    return out


def load_all(cfg: EvalConfig) -> list[Benchmark]:
    benches = load_benchmarks(cfg.benchmarks, cfg.select or None)
    own = input_path(cfg.own_pairs) if cfg.own_pairs else None
    if own is not None and own.is_file() and not any(Path(b.source).resolve() == own.resolve()
                                                     for b in benches):
        benches.append(load_benchmark(own))
    if not benches:  # metrics over nothing would read as a result
        raise EvalError(f"no evaluation set: benchmarks={cfg.benchmarks!r} names none (give --benchmarks "
                        "a set folder or pairs file, comma-separated)")
    for b in benches:
        if not b.pairs:  # metrics over nothing would read as a result
            raise EvalError(f"evaluation set {b.source} holds no pairs")
    return [b.head(cfg.limit) for b in unique_names(benches)]


def unique_names(benches: list[Benchmark]) -> list[Benchmark]:
    """Two sets with one name (two eval_data.json) get their folder's name in front,
    so their results and resume caches never mix."""
    seen: dict[str, int] = {}
    for b in benches:
        seen[b.name] = seen.get(b.name, 0) + 1
    for k, b in enumerate(benches):
        if seen[b.name] > 1:
            b.name = f"{Path(b.source).parent.name}-{b.name}-{k}"
    return benches


def evaluate(cfg: EvalConfig) -> Path:
    """Run every backend on every benchmark; returns the run directory."""
    check_paths(cfg)
    benches = load_all(cfg)
    model = resolve_model(cfg.model) if "hf" in cfg.backends and "hf" not in cfg.backend_models else None
    # The config is rewritten on a rerun: metrics.json is rebuilt beside it from caches whose
    # own keys (open_cache) refuse outputs of another model or input.
    runs_root = Path(cfg.runs_root) if cfg.runs_root else REPO_ROOT / "runs"
    inputs = {f"--benchmarks[{k}]": b.source for k, b in enumerate(benches)}
    if model and Path(model).exists():
        inputs["--model"] = model
    for backend in cfg.backends:
        spec = model_for(cfg, backend, model)
        if spec and spec != model and input_path(spec).exists():
            inputs[f"the {backend} model"] = str(input_path(spec))
    check_not_an_input(runs_root / "eval" / (cfg.run_name or "_"), "the eval run folder", inputs)
    if cfg.root_copy:
        for name in ("metrics.json", "model_test_results.csv"):
            check_not_an_input(Path(cfg.root_copy) / name, "root_copy", inputs)
    for backend in cfg.backends:  # a broken model is named before the run folder is made
        check_backend_model(backend, model_for(cfg, backend, model))
    if cfg.dictionary.enabled and cfg.dictionary.misspellings and set(cfg.backends) & set(MODEL_BACKENDS):
        from evaluation.dictpass import misspelling_pairs

        misspelling_pairs(str(input_path(cfg.dictionary.misspellings)))  # missing lists named before the run
    if "hf" in cfg.backends and cfg.hf.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise CorrectorError(f"hf.device={cfg.hf.device} but no CUDA GPU is visible: set hf.device=cpu, "
                                 "or '' (cuda when there is one)")
    name = cfg.run_name or default_run_name()
    # held until the run ends: a second evaluation into the same run would mix its cached outputs in
    with run_lock(runs_root / "eval" / name, "the eval run folder"):
        return _evaluate(cfg, benches, model, name)


def _evaluate(cfg: EvalConfig, benches: list[Benchmark], model: str | None, name: str) -> Path:
    run_dir = make_run_dir("eval", name, cfg, cfg.seed, root=cfg.runs_root or None)
    report: dict[str, Any] = {"model": model, "run_dir": str(run_dir), "benchmarks": {}}
    rows: list[dict[str, Any]] = []
    reviews: dict[str, dict[str, list]] = {}
    for backend in cfg.backends:
        print(f"eval: loading backend {backend}", file=sys.stderr, flush=True)
        corrector = make_corrector(backend, model_for(cfg, backend, model),
                                   **backend_options(cfg, backend))
        for bench in benches:
            entry = report["benchmarks"].setdefault(bench.name, {
                "n": len(bench.pairs), "case_insensitive": bench.case_insensitive, "fixes": list(bench.fixes),
                "source": bench.source, "backends": {}})
            cache = run_dir / "outputs" / f"{bench.name}__{corrector.name}.jsonl"
            open_cache(cache, cache_key(cfg, backend, model), cfg.fresh)
            entry["backends"][backend], bench_rows = _score_one(corrector, bench, cache, cfg)
            rows += [{"benchmark": bench.name, "backend": backend, **r} for r in bench_rows]
            if backend in MODEL_BACKENDS:
                reviews[f"{bench.name} / {backend}"] = guard_review(bench_rows, bench.case_insensitive)
            if backend in MODEL_BACKENDS and cfg.dictionary.enabled:
                both = f"{backend}+dict"  # model + dictionary, beside the model's own row
                key = cache_key(cfg, backend, model)
                res = _dictionary_row(corrector, bench, bench_rows, run_dir, cfg, key)
                if res is not None:
                    entry["backends"][both], dict_rows = res
                    rows += [{"benchmark": bench.name, "backend": both, **r} for r in dict_rows]
    write_outputs(run_dir, report, rows, cfg.root_copy, cfg.root_copy_force)
    write_review(run_dir, reviews)
    return run_dir


def check_backend_model(backend: str, spec: str | None) -> None:
    """What a model backend will load, checked from its files before anything is written (the
    backends load it only when their turn comes, after the run folder exists): a local hf folder
    whole (core.loading); for pte and device (later stages' plug-ins, never imported here), a
    non-empty .pte file and the metadata JSON and tokenizer.json beside it, read whole."""
    if backend == "hf" and spec and (Path(spec).exists() or Path(spec).is_symlink()
                                     or spec.startswith(("/", "./", "../", "~"))):  # a path, not a Hub id
        from core.loading import check_local_folder

        check_local_folder(Path(spec).expanduser(), "model")
        check_local_folder(Path(spec).expanduser(), "tokenizer")
    elif backend == "hf" and spec and spec != "builtin:tiny" and not spec.startswith("gguf:"):
        from core.loading import hub_loadable, not_loadable_error

        if not hub_loadable(spec):  # a Hub id neither cached nor reachable
            raise not_loadable_error(spec)
    elif backend in ("pte", "device") and spec:
        from core.files import check_input, check_tokenizer_json, read_json

        pte = check_input(input_path(spec), f"{backend} model", CorrectorError, want="file")
        if pte.stat().st_size == 0:
            raise CorrectorError(f"{backend} model {pte}: empty file (0 bytes): re-export it")
        meta, tok = pte.with_suffix(".json"), pte.parent / "tokenizer.json"
        if meta.exists() or meta.is_symlink():
            read_json(meta, CorrectorError, what="metadata")
        if tok.exists() or tok.is_symlink():
            check_tokenizer_json(tok, CorrectorError)


MODEL_BACKENDS = ("hf", "pte", "device")  # the ones whose raw outputs the guard filters in earnest


def write_review(run_dir: Path, reviews: dict[str, dict[str, list]]) -> None:
    """guard_review.json, and its tables appended to summary.md."""
    if not reviews:
        return
    atomic_write_json(run_dir / "guard_review.json", reviews)
    lines = ["## Guard review", ""]
    for name, review in reviews.items():
        lines += review_markdown(name, review)
    summary = run_dir / "summary.md"
    atomic_write_text(summary, summary.read_text(encoding="utf-8") + "\n" + "\n".join(lines))


def check_paths(cfg: EvalConfig) -> None:
    """Output folders and the run name, before any model loads or any backend runs."""
    if cfg.run_name:
        check_run_name(cfg.run_name, "--run")
    check_output_dir(Path(cfg.runs_root) if cfg.runs_root else REPO_ROOT / "runs", "runs_root")
    if cfg.root_copy:
        check_output_dir(output_path(cfg.root_copy), "root_copy")


def _score_one(corrector, bench: Benchmark, cache: Path, cfg: EvalConfig):
    outs, lat = run_backend(corrector, bench, cache, cfg.chunk_size)
    return _score(outs, lat, bench, cfg)


class PassCorrector:
    """The dictionary pass (evaluation/dictpass.py) over a model's raw outputs, as a corrector of
    the inputs, so run_backend caches and resumes it like a backend: it runs no generation, only
    the pass's scoring forwards. Its output is the pass's result, which the scoring guards once
    more (a no-op: the pass ends with the guard)."""

    def __init__(self, name: str, dp, raw: dict[str, str]) -> None:
        self.name, self.dp, self.raw = name, dp, raw

    def correct(self, texts: list[str]) -> list[str]:
        return [t if not t.strip() else self.dp.correct(t, self.raw[t]) for t in texts]


def _dictionary_row(corrector, bench: Benchmark, model_rows: list[dict[str, Any]], run_dir: Path,
                    cfg: EvalConfig, model_key: dict[str, Any]):
    """The "<backend>+dict" row: the pass over the model's own raw outputs (no second generation).
    Its latency is the model's plus the pass's; `dictionary` adds the share of sentences the pass
    looked at and the share it changed. None (with a note) for a backend that lends no scorer."""
    from dataclasses import asdict

    from evaluation.dictpass import DictionaryPass, targets

    if not hasattr(corrector, "dictionary_model"):
        print(f"eval: backend {corrector.name} lends no scorer: no dictionary row", file=sys.stderr)
        return None
    dp = DictionaryPass.for_model(cfg.dictionary, corrector.dictionary_model(), cfg.guard)
    raw = {r["input"]: r["raw_output"] for r in model_rows}
    both = PassCorrector(f"{corrector.name}+dict", dp, raw)
    cache = run_dir / "outputs" / f"{bench.name}__{both.name}.jsonl"
    key = {**model_key, "dictionary": asdict(cfg.dictionary), "guard": asdict(cfg.guard)}
    # other pass settings over the same model outputs: redo the pass (its scoring forwards only),
    # without fresh=true, which would also discard the model's generations
    old = _read_json(cache.with_suffix(".key.json"))
    retuned = isinstance(old, dict) and old != key and \
        {k: v for k, v in old.items() if k not in ("dictionary", "guard")} == model_key
    open_cache(cache, key, cfg.fresh or retuned)
    outs, pass_ms = run_backend(both, bench, cache, cfg.chunk_size)
    res, rows = _score(outs, [r["latency_ms"] + ms for r, ms in zip(model_rows, pass_ms)], bench, cfg)
    needed = [bool(r["input"].strip()) and bool(targets(r["input"], r["raw_output"], r["guarded_output"],
                                                        cfg.dictionary, cfg.guard)) for r in model_rows]
    changed = [o != r["guarded_output"] for o, r in zip(outs, model_rows)]
    n = max(1, len(outs))
    res["dictionary"] = {"needed_share": round(sum(needed) / n, 4),
                         "changed_share": round(sum(changed) / n, 4),
                         "pass_ms_mean": round(sum(pass_ms) / n, 3)}  # per sentence: bench/bench_dictpass.py
    return res, rows


def _score(outs: list[str], lat: list[float], bench: Benchmark, cfg: EvalConfig):
    t0 = time.perf_counter()
    scored = score_outputs([p.input for p in bench.pairs], [p.reference for p in bench.pairs], outs,
                           bench.case_insensitive, cfg.guard, [p.errors for p in bench.pairs], bench.fixes)
    guard_s = time.perf_counter() - t0
    for r, ms in zip(scored["rows"], lat):
        r["latency_ms"] = round(ms, 3)
    total_s = sum(lat) / 1000
    speed = {"seconds": round(total_s, 3),
             "sentences_per_s": round(len(outs) / total_s, 2) if total_s else None,
             "scoring_seconds": round(guard_s, 3)}
    return {"guarded": scored["guarded"], "raw": scored["raw"], **speed}, scored["rows"]


# ---------------------------------------------------------------- outputs
def write_outputs(run_dir: Path, report: dict[str, Any], rows: list[dict[str, Any]], root_copy: str,
                  force: bool = False) -> None:
    text = csv_text(rows)
    targets = [run_dir]
    if root_copy:
        root = output_path(root_copy)
        lacking = missing_scope(report, _read_json(root / "metrics.json"))
        if lacking and not force:
            print(f"eval: kept {root / 'metrics.json'}: it covers {lacking}, this run does not "
                  "(root_copy_force=true replaces it)", file=sys.stderr)
        else:
            targets.append(root)
    for d in targets:
        atomic_write_json(d / "metrics.json", report)
        atomic_write_text(d / "model_test_results.csv", text)
    atomic_write_text(run_dir / "summary.md", summary_markdown(report))


def missing_scope(new: dict[str, Any], old: Any) -> str | None:
    """What an existing metrics.json covers that `new` does not (a benchmark, more pairs of
    one, or a backend), so a quick run (limit=3, identity only) never replaces a full one."""
    if not isinstance(old, dict) or not isinstance(old.get("benchmarks"), dict):
        return None
    for name, entry in old["benchmarks"].items():
        mine = new["benchmarks"].get(name)
        if not isinstance(entry, dict):
            continue
        if mine is None:
            return f"benchmark {name}"
        if isinstance(entry.get("n"), int) and mine["n"] < entry["n"]:
            return f"{entry['n']} pairs of {name} (this run: {mine['n']})"
        gone = sorted(set(entry.get("backends") or ()) - set(mine["backends"]))
        if gone:
            return f"backend {gone[0]} on {name}"
    return None


# ---------------------------------------------------------------- CLI
FLAGS = (
    Flag("--model", "model", "run dir, model dir, or preset (tiny, smollm2-135m, ...)"),
    Flag("--benchmarks", "benchmarks",
         "eval folder, evaluation set folder(s) or pairs .json, comma-separated"),
    Flag("--backends", "backends", "comma-separated: hf,identity,symspell,pyspellchecker; pte and device "
         "come from later stages", as_list=True),
    Flag("--limit", "limit", "first N pairs of each evaluation set", typed=True),
    Flag("--run", "run_name", "run name: runs/eval/<run>/ (reusing one resumes; fresh=true discards "
         "outputs cached with another model or inputs)"),
)


def parse_args(argv: list[str] | None = None) -> EvalConfig:
    ap = stage_parser("python -m evaluation", __doc__.split("\n\n")[0], str(DEFAULT_CONFIG), FLAGS)
    args = ap.parse_args(argv)
    return load_config(EvalConfig, args.config, flag_overrides(args, FLAGS) + args.overrides)


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        run_dir = evaluate(parse_args(argv))
        # the summary quotes the sets' texts and names: an escape sequence in one must not reach the terminal
        print(printable((run_dir / "summary.md").read_text(encoding="utf-8")))
        print(f"wrote {run_dir}/metrics.json, model_test_results.csv, summary.md")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
