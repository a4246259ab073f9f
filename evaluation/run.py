"""Evaluation: every corrector through the same metrics and the same guard.

    python -m evaluation.run --model DIR|RUN_DIR|PRESET --benchmarks ../shared/data/eval \
        [--backends hf,identity,symspell,pyspellchecker] [--limit N] [--run NAME] [key=value ...]

Writes runs/eval/<name>/ with metrics.json (every metric per benchmark and backend,
guarded and raw), model_test_results.csv (one row per sample and backend),
summary.md (backends side by side) and outputs/ (raw outputs, for resuming), then
copies metrics.json and model_test_results.csv to the repository root.
`score_outputs` is the scoring entry point other stages (the device bench) call.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evaluation.eval_sets import Benchmark, BenchmarkError, load_benchmark, load_benchmarks
from core.config import ConfigError, check, load_config
from evaluation.correctors import CorrectorError, make_corrector
from evaluation.guard import GuardConfig, guard
from evaluation.metrics import compute_metrics, format_edits, norm, word_edits
from core.runs import REPO_ROOT, atomic_write_json, atomic_write_text, make_run_dir

DEFAULT_CONFIG = REPO_ROOT / "evaluation/configs/default.yaml"
CSV_COLUMNS = ["benchmark", "backend", "input", "reference", "raw_output", "guarded_output",
               "correct", "raw_correct", "paraphrased", "edits", "latency_ms"]


@dataclass
class HFOptions:
    batch_size: int = 32
    device: str = ""
    dtype: str = ""
    static_cache: bool | None = None

    def __post_init__(self) -> None:
        check(self.batch_size >= 1, f"hf.batch_size must be >= 1, got {self.batch_size}")


@dataclass
class EvalConfig:
    model: str = "models/checkpoint"
    benchmarks: str = "../shared/data/eval"
    own_pairs: str = "data/eval_data.json"
    select: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=lambda: ["hf", "identity", "symspell", "pyspellchecker"])
    backend_models: dict[str, str] = field(default_factory=dict)
    limit: int = 0
    chunk_size: int = 64
    run_name: str = ""
    root_copy: str = "."
    runs_root: str = ""
    seed: int = 0
    hf: HFOptions = field(default_factory=HFOptions)
    guard: GuardConfig = field(default_factory=GuardConfig)

    def __post_init__(self) -> None:
        check(bool(self.backends), "backends must name at least one backend")
        check(self.limit >= 0, f"limit must be >= 0, got {self.limit}")
        check(self.chunk_size >= 1, f"chunk_size must be >= 1, got {self.chunk_size}")


# ---------------------------------------------------------------- scoring
def score_outputs(inputs: list[str], references: list[str], outputs: list[str],
                  case_insensitive: bool = False, guard_config: GuardConfig | None = None,
                  errors: list[Any] | None = None) -> dict[str, Any]:
    """Score raw outputs with and without the guard.

    Returns {"guarded": metrics, "raw": metrics, "rows": [per-sample dicts]}; each row
    holds input, reference, raw_output, guarded_output, correct (guarded exact match),
    raw_correct, paraphrased (the guard changed the output) and edits (guarded edits)."""
    if not len(inputs) == len(references) == len(outputs):
        raise ValueError(f"score_outputs: {len(inputs)} inputs, {len(references)} references, "
                         f"{len(outputs)} outputs")
    guarded = [guard(i, o, guard_config) for i, o in zip(inputs, outputs)]
    para = [g != o for g, o in zip(guarded, outputs)]
    rows = [_row(i, r, o, g, p, case_insensitive)
            for i, r, o, g, p in zip(inputs, references, outputs, guarded, para)]
    kw = dict(case_insensitive=case_insensitive, paraphrased=para, errors=errors)
    return {"guarded": compute_metrics(inputs, references, guarded, **kw),
            "raw": compute_metrics(inputs, references, outputs, **kw), "rows": rows}


def _row(inp: str, ref: str, raw: str, grd: str, para: bool, ci: bool) -> dict[str, Any]:
    src = norm(inp, ci).split()
    return {"input": inp, "reference": ref, "raw_output": raw, "guarded_output": grd,
            "correct": norm(grd, ci) == norm(ref, ci), "raw_correct": norm(raw, ci) == norm(ref, ci),
            "paraphrased": para, "edits": format_edits(src, word_edits(src, norm(grd, ci).split()))}


# ---------------------------------------------------------------- models
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
    model = data.get("model")
    for cand in ((model or {}).get("base") if isinstance(model, dict) else model,
                 (model or {}).get("name") if isinstance(model, dict) else None,
                 data.get("base_model"), data.get("base")):
        if isinstance(cand, str) and cand:
            return cand
    raise ConfigError(f"{path}: no base model found (expected model.base)")


def backend_options(cfg: EvalConfig, backend: str) -> dict[str, Any]:
    if backend != "hf":
        return {}
    h = cfg.hf
    opts: dict[str, Any] = {"batch_size": h.batch_size, "static_cache": h.static_cache}
    opts.update({k: v for k, v in (("device", h.device), ("dtype", h.dtype)) if v})
    return opts


# ---------------------------------------------------------------- running
def run_backend(corrector, bench: Benchmark, cache: Path, chunk: int) -> tuple[list[str], list[float]]:
    """Raw outputs and per-sample latency (ms, the chunk's time shared out), resumable:
    finished chunks are appended to `cache` (JSON Lines) and reused on a rerun."""
    from tqdm import tqdm

    done = _read_cache(cache)
    inputs = [p.input for p in bench.pairs]
    cache.parent.mkdir(parents=True, exist_ok=True)
    with cache.open("a", encoding="utf-8") as fh:
        for s in tqdm(range(len(done), len(inputs), chunk), desc=f"{bench.name}/{corrector.name}",
                      unit="chunk", leave=False, disable=None):
            batch = inputs[s:s + chunk]
            t0 = time.perf_counter()
            outs = corrector.correct(batch)
            ms = (time.perf_counter() - t0) * 1000 / len(batch)
            if len(outs) != len(batch):
                raise CorrectorError(f"backend {corrector.name} returned {len(outs)} outputs for {len(batch)} inputs")
            for k, o in enumerate(outs):
                done.append((o, ms))
                fh.write(json.dumps({"i": s + k, "output": o, "latency_ms": ms}, ensure_ascii=False) + "\n")
            fh.flush()
    done = done[:len(inputs)]
    return [o for o, _ in done], [ms for _, ms in done]


def _read_cache(path: Path) -> list[tuple[str, float]]:
    if not path.exists():
        return []
    lines, out = path.read_text(encoding="utf-8").splitlines(), []
    for k, line in enumerate(lines):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            break  # an interrupted write: redo from here
        if obj.get("i") != k:
            break
        out.append((obj["output"], float(obj["latency_ms"])))
    if len(out) != len(lines):
        atomic_write_text(path, "".join(json.dumps({"i": k, "output": o, "latency_ms": ms},
                                                   ensure_ascii=False) + "\n" for k, (o, ms) in enumerate(out)))
    return out


def load_all(cfg: EvalConfig) -> list[Benchmark]:
    benches = load_benchmarks(cfg.benchmarks, cfg.select or None)
    own = Path(cfg.own_pairs) if cfg.own_pairs else None
    if own is not None and not own.is_absolute():
        own = REPO_ROOT / own
    if own is not None and own.is_file() and not any(Path(b.source).resolve() == own.resolve() for b in benches):
        benches.append(load_benchmark(own))
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
    benches = load_all(cfg)
    model = resolve_model(cfg.model) if "hf" in cfg.backends else None
    run_dir = make_run_dir("eval", cfg.run_name or None, cfg, cfg.seed, root=cfg.runs_root or None)
    report: dict[str, Any] = {"model": model, "run_dir": str(run_dir), "benchmarks": {}}
    rows: list[dict[str, Any]] = []
    for backend in cfg.backends:
        corrector = make_corrector(backend, cfg.backend_models.get(backend, model), **backend_options(cfg, backend))
        for bench in benches:
            entry = report["benchmarks"].setdefault(bench.name, {
                "n": len(bench.pairs), "case_insensitive": bench.case_insensitive,
                "source": bench.source, "backends": {}})
            entry["backends"][backend], bench_rows = _score_one(corrector, bench, run_dir, cfg)
            rows += [{"benchmark": bench.name, "backend": backend, **r} for r in bench_rows]
    write_outputs(run_dir, report, rows, cfg.root_copy)
    return run_dir


def _score_one(corrector, bench: Benchmark, run_dir: Path, cfg: EvalConfig):
    cache = run_dir / "outputs" / f"{bench.name}__{corrector.name}.jsonl"
    outs, lat = run_backend(corrector, bench, cache, cfg.chunk_size)
    t0 = time.perf_counter()
    scored = score_outputs([p.input for p in bench.pairs], [p.reference for p in bench.pairs], outs,
                           bench.case_insensitive, cfg.guard, [p.errors for p in bench.pairs])
    guard_s = time.perf_counter() - t0
    for r, ms in zip(scored["rows"], lat):
        r["latency_ms"] = round(ms, 3)
    total_s = sum(lat) / 1000
    speed = {"seconds": round(total_s, 3), "sentences_per_s": round(len(outs) / total_s, 2) if total_s else None,
             "scoring_seconds": round(guard_s, 3)}
    return {"guarded": scored["guarded"], "raw": scored["raw"], **speed}, scored["rows"]


# ---------------------------------------------------------------- outputs
def csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


SUMMARY_METRICS = ("exact_match", "word_accuracy", "correction_rate", "over_correction_rate",
                   "precision", "recall", "f0_5", "cer_before", "cer_after", "paraphrase_rate")


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def summary_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Evaluation: {report.get('model') or 'baselines'}", "",
             "Guarded figures (the raw model's in brackets where the guard changed them).", ""]
    for name, entry in report["benchmarks"].items():
        backends = list(entry["backends"])
        ci = " (case-insensitive)" if entry["case_insensitive"] else ""
        lines += [f"## {name}: {entry['n']} pairs{ci}", "",
                  "| metric | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
        for m in SUMMARY_METRICS + ("sentences_per_s",):
            cells = []
            for b in backends:
                res = entry["backends"][b]
                g = res.get(m) if m == "sentences_per_s" else res["guarded"].get(m)
                r = None if m == "sentences_per_s" else res["raw"].get(m)
                cells.append(_fmt(g) + (f" ({_fmt(r)})" if r is not None and r != g and m != "paraphrase_rate" else ""))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_outputs(run_dir: Path, report: dict[str, Any], rows: list[dict[str, Any]], root_copy: str) -> None:
    text = csv_text(rows)
    targets = [run_dir] + ([Path(root_copy) if Path(root_copy).is_absolute() else REPO_ROOT / root_copy]
                           if root_copy else [])
    for d in targets:
        atomic_write_json(d / "metrics.json", report)
        atomic_write_text(d / "model_test_results.csv", text)
    atomic_write_text(run_dir / "summary.md", summary_markdown(report))


# ---------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> tuple[EvalConfig, argparse.Namespace]:
    ap = argparse.ArgumentParser(prog="python -m evaluation.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(DEFAULT_CONFIG), help="YAML config (evaluation/configs/)")
    ap.add_argument("--model", help="run dir, model dir, or preset (tiny, smollm2-135m, ...)")
    ap.add_argument("--benchmarks", help="eval folder, benchmark folder(s) or pairs .json, comma-separated")
    ap.add_argument("--backends", help="comma-separated: hf,identity,symspell,pyspellchecker (pte, device: plug-ins)")
    ap.add_argument("--limit", type=int, help="first N pairs of each benchmark")
    ap.add_argument("--run", help="run name: runs/eval/<run>/ (reusing one resumes)")
    ap.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. guard.max_edits=3 hf.batch_size=64")
    args = ap.parse_args(argv)
    flags = [f"{k}={v}" for k, v in (("model", args.model), ("benchmarks", args.benchmarks),
                                     ("limit", args.limit), ("run_name", args.run)) if v is not None]
    if args.backends:
        flags.append("backends=[" + ",".join(b.strip() for b in args.backends.split(",") if b.strip()) + "]")
    return load_config(EvalConfig, args.config, flags + args.overrides), args


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, _ = parse_args(argv)
        run_dir = evaluate(cfg)
    except (ConfigError, BenchmarkError, CorrectorError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((run_dir / "summary.md").read_text(encoding="utf-8"))
    print(f"wrote {run_dir}/metrics.json, model_test_results.csv, summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
