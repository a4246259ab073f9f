"""`make demo` = `python -m pipeline.demo`: the whole pipeline offline on the tiny
preset, in host mode, ending with the path of the bench report.

    data -> train -> eval -> export -> runner -> bench

Each stage runs through its own CLI (the same commands `make data`, `make train`, ...
run), so the demo exercises exactly what users run. Stages write the usual places
(data/, runs/, models/, reports/). `--from STAGE` restarts from a stage when the
earlier ones are already done; extra `key=value` arguments go to the bench.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from core.errors import PipelineError
from core.paths import REPO_ROOT
from core.runs import default_run_name

STAGES = ("data", "train", "eval", "export", "runner", "bench")
REAL_SLICE = "../shared/data/eval/neuspell-bea4660"  # real human typos, benched beside the synthetic set
NOTE = ("The tiny demo model is a smoke test of the pipeline, not a corrector. Its figures (synthetic "
        "and real typos alike) show that every stage runs end to end, not how well a real model corrects; "
        "compare SymSpell and identity for scale.")  # no ": " (the bench parses key=value as YAML)


class DemoError(PipelineError):
    """A stage of the demo failed; the message says which and how to restart from it."""


def commands(run: str, limit: int, bench_args: list[str]) -> dict[str, list[str]]:
    py = sys.executable
    models = ["models/typing-corrector-int8.pte", "models/typing-corrector-int4.pte"]
    return {
        "data": [py, "-m", "datagen", "--config", "datagen/configs/tiny.yaml", "--out", "data",
                 "--run", run],
        "train": [py, "-m", "train.train", "--config", "train/configs/tiny.yaml", f"run_name={run}"],
        "eval": [py, "-m", "evaluation", "--model", "models/checkpoint", "--benchmarks",
                 "data/eval_data.json", "--backends", "hf,identity,symspell", "--limit", str(limit),
                 "--run", run, "own_pairs=", "dictionary.misspellings="],  # offline: no real lists
        "export": [py, "-m", "export.export_to_pte", "--model", "models/checkpoint", "max_seq_len=256"],
        "runner": ["bash", "android_runner/build_host.sh"],
        "bench": [py, "-m", "device_bench", "run", "--models", *models, "--eval", "data/eval_data.json",
                  "--devices", "host", "--run", run, f"limit={limit}", f"note={NOTE}", *bench_args],
    }


def real_args(path: str, limit: int) -> list[str]:
    """Bench overrides for the real typo slice, or none (with the reason printed) when absent.
    A relative path is taken from the repository, where every stage runs."""
    if not path:
        print("demo: no real typo slice in the bench report (--real '')", flush=True)
        return []
    where = Path(path) if Path(path).is_absolute() else REPO_ROOT / path
    if not where.exists():
        print(f"demo: no real typo slice in the bench report: {where} not found "
              "(--real PATH points at a benchmark folder, e.g. a NeuSpell corrupt/correct pair)", flush=True)
        return []
    return [f"real_eval={where.resolve()}", f"real_limit={limit}"]


def offline_env() -> dict[str, str]:
    """The stages' environment: offline by construction, nothing may reach the Hub."""
    return dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")


def run_stage(name: str, argv: list[str], env: dict, prog: str = "pipeline.demo") -> float:
    print(f"\n=== demo: {name}: {' '.join(argv)}", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO_ROOT, env=env)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        raise DemoError(f"stage {name} failed (exit {proc.returncode}) after {seconds:.0f} s; "
                        f"rerun from it with: python -m {prog} --from {name}")
    print(f"=== demo: {name} done in {seconds:.0f} s", flush=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default=f"demo-{default_run_name()}", help="run name for every stage")
    ap.add_argument("--from", dest="start", choices=STAGES, default="data", help="first stage to run")
    ap.add_argument("--limit", type=int, default=100, help="eval sentences for eval and bench")
    ap.add_argument("--real", default=REAL_SLICE, help="real typo slice benched beside the synthetic set "
                    "(a benchmark evaluation reads; relative = from the repository; '' = none)")
    ap.add_argument("--real-limit", type=int, default=200, help="its first N sentences")
    ap.add_argument("bench_args", nargs="*", help="bench key=value overrides (e.g. reps=5)")
    args = ap.parse_args(argv)
    env = offline_env()
    cmds = commands(args.run, args.limit, real_args(args.real, args.real_limit) + args.bench_args)
    times = {}
    t0 = time.monotonic()
    try:
        for name in STAGES[STAGES.index(args.start):]:
            times[name] = run_stage(name, cmds[name], env)
    except DemoError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 1
    report = REPO_ROOT / "reports" / args.run / "report.html"
    print("\n=== demo: stage times " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items())
          + f"; total {time.monotonic() - t0:.0f} s")
    print(f"demo: report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
