"""`make demo-real` = `python -m pipeline.real_demo`: the released real corrector end to end,
offline, with no GPU and no phone, ending with the path of the bench report.

    merge -> eval -> export -> runner -> bench -> runner-arm64 -> bench-arm64

merge: the released v2 adapter onto the dequantized SmolLM2 GGUF (`make offline-models` first);
eval: the merged model beside identity, SymSpell and pyspellchecker on the first `--limit`
typed messages of the dev set (full text: spelling, case, punctuation) and the first `--limit`
real BEA-4660 pairs (spelling); export: INT8 and INT4 `.pte` into models/real/ (the default
recipes: lean attention for SmolLM2); bench: both `.pte` files, plain and copy-speculative, text
in -> guarded text out (the runner's text mode), with the dictionary pass on the device, on the
host and on a loopback adb device, scored on the same two slices from the text the device
returned; runner-arm64 + bench-arm64: the same with an arm64 loopback device added (the aarch64
runner under qemu: its answers count, its timings are the emulator's) on the first
`--arm64-limit` sentences of each set, in its own report `<run>-arm64` (0 skips both stages).
Each stage is the CLI users run; `--from STAGE` restarts from a stage.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from core.paths import REPO_ROOT
from core.runs import atomic_write_text
from evaluation.eval_sets import BenchmarkError, load_benchmark
from pipeline.demo import DemoError, offline_env, run_stage

STAGES = ("merge", "eval", "export", "runner", "bench", "runner-arm64", "bench-arm64")
ADAPTER = "release/smollm2-135m-typo-lora-v2"
PRESET = "train/configs/smollm2-135m.yaml"
BEA = "../shared/data/eval/neuspell-bea4660"
MESSAGES = "evaluation/devsets/messages"
NAME = "smollm2-typo"
SETS = "on typed messages (full text) and real BEA-4660 typos (spelling)"


def note(adapter: str, preset: str) -> str:
    """The report's one-line description: which base (its dequantized GGUF offline), which adapter."""
    if adapter == ADAPTER and preset == PRESET:
        return f"SmolLM2-135M-Instruct (dequantized GGUF) + the released v2 LoRA adapter, {SETS}"
    return f"the base of {Path(preset).name} (dequantized GGUF offline) + LoRA adapter {adapter}, {SETS}"


def merged_path(adapter: str, env: dict, preset: str = PRESET) -> str:
    """The cached merged model folder (core.loading merge prints it; seconds once cached)."""
    argv = [sys.executable, "-m", "core.loading", "merge", adapter, "--preset-config", preset,
            "--cache", "models/merged"]
    proc = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise DemoError(f"merge of {adapter} failed: {proc.stderr.strip()[-800:]} "
                        "(run `make offline-models` first)")
    return proc.stdout.strip().splitlines()[-1]


def pairs_file(bench: str, limit: int, out: Path) -> Path:
    """The first `limit` pairs of a benchmark as JSON Lines: what export checks and the bench
    reads as its main set."""
    try:
        pairs = load_benchmark(REPO_ROOT / bench).pairs[:limit or None]  # 0 = all, as eval and bench
    except BenchmarkError as exc:
        raise DemoError(f"{exc} (--messages points at the typed-messages dev set folder)") from None
    lines = (json.dumps({"input": p.input, "output": p.reference}) for p in pairs)
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


def model_changed(eval_dir: Path, model: str) -> bool:
    """Whether the eval run's cached outputs were made by another model (a new release adapter
    merges to another folder): the demo then passes fresh=true, where evaluation.run.open_cache
    would refuse them. Read from the caches' own key files, so it holds after a failed stage too."""
    made_by = set()
    for key_file in (eval_dir / "outputs").glob("*.key.json"):
        try:
            key = json.loads(key_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # the evaluation names an unreadable key file itself
        path = key.get("model", {}).get("path") if isinstance(key, dict) else None
        if path:  # the baselines' keys hold path null
            made_by.add(path)
    old = sorted(made_by - {model})
    if old:
        print(f"=== demo-real: the eval's cached outputs were made by {', '.join(old)}, "
              f"not {model}: they are discarded", flush=True)
    return bool(old)


def commands(run: str, model: str, bea: str, messages: str, pairs: Path, limit: int, fresh: bool = False,
             arm64_pairs: Path | None = None, arm64_limit: int = 0, name: str = NAME,
             about: str = "") -> dict[str, list[str]]:
    py = sys.executable
    ptes = [f"models/real/{name}-{q}.pte" for q in ("int8", "int4")]
    about = about or note(ADAPTER, PRESET)
    arm64 = {} if arm64_pairs is None else {
        "runner-arm64": ["bash", "android_runner/build_arm64.sh"],
        "bench-arm64": [py, "-m", "device_bench.testing.bench_loopback", "--models", *ptes,
                        "--eval", str(arm64_pairs), "--run", f"{run}-arm64", "--arm64", "cortex-a76",
                        f"real_eval={bea}", f"real_limit={arm64_limit}", "reps=1", "dictionary=true",
                        f"note={about}; arm64 slice"],
    }
    return {
        "eval": [py, "-m", "evaluation", "--model", model, "--benchmarks", f"{messages},{bea}", "--run", run,
                 f"limit={limit}", "own_pairs=", "root_copy=", *(["fresh=true"] if fresh else [])],
        "export": [py, "-m", "export.export_to_pte", "--model", model, "out_dir=models/real",
                   f"name={name}", f"eval_data={pairs}"],
        "runner": ["bash", "android_runner/build_host.sh"],
        "bench": [py, "-m", "device_bench.testing.bench_loopback", "--models", *ptes, "--eval", str(pairs),
                  "--run", run, f"real_eval={bea}", f"real_limit={limit}", "reps=1", "dictionary=true",
                  f"note={about}"],
        **arm64,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipeline.real_demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="demo-real", help="run name for every stage")
    ap.add_argument("--from", dest="start", choices=STAGES, default="merge", help="first stage to run")
    ap.add_argument("--adapter", default=ADAPTER, help="a PEFT adapter folder")
    ap.add_argument("--preset", default=PRESET, help="the train config naming the adapter's base "
                    "(train/configs/gemma.yaml for a Gemma 3 adapter)")
    ap.add_argument("--name", default=NAME, help="file stem of the .pte files in models/real/")
    ap.add_argument("--bea", default=BEA, help="the NeuSpell BEA-4660 folder (relative: from the repo)")
    ap.add_argument("--messages", default=MESSAGES, help="the typed-messages dev set folder")
    ap.add_argument("--limit", type=int, default=200, help="pairs of each set for eval and bench (0 = all)")
    ap.add_argument("--arm64-limit", type=int, default=4,
                    help="pairs of each set for the arm64 bench (0 = no arm64 stages); under qemu a sentence "
                         "with the dictionary pass takes ~20 s, so 4 + 4 pairs x 2 files x 2 modes ~ 10 min")
    args = ap.parse_args(argv)
    env = offline_env()
    t0, times = time.monotonic(), {}
    try:
        model = merged_path(args.adapter, env, args.preset)
        times["merge"] = time.monotonic() - t0
        print(f"=== demo-real: merged model {model} ({times['merge']:.0f} s)", flush=True)
        if not (REPO_ROOT / args.bea).exists():
            raise DemoError(f"{args.bea}: not found (--bea points at the NeuSpell BEA-4660 folder)")
        pairs = REPO_ROOT / "runs" / args.run / f"messages-{args.limit}.jsonl"
        pairs_file(args.messages, args.limit, pairs)
        fresh = model_changed(REPO_ROOT / "runs" / "eval" / args.run, model)
        arm64_pairs = None
        if args.arm64_limit > 0:
            arm64_pairs = REPO_ROOT / "runs" / args.run / f"messages-{args.arm64_limit}.jsonl"
            pairs_file(args.messages, args.arm64_limit, arm64_pairs)
        cmds = commands(args.run, model, args.bea, args.messages, pairs, args.limit, fresh, arm64_pairs,
                        args.arm64_limit, args.name, note(args.adapter, args.preset))
        for name in [s for s in STAGES[max(1, STAGES.index(args.start)):] if s in cmds]:
            times[name] = run_stage(name, cmds[name], env, "pipeline.real_demo")
    except DemoError as exc:
        print(f"demo-real: error: {exc}", file=sys.stderr)
        return 1
    print("\n=== demo-real: stage times " + ", ".join(f"{k} {v:.0f}s" for k, v in times.items())
          + f"; total {time.monotonic() - t0:.0f} s")
    print(f"demo-real: eval: {REPO_ROOT / 'runs' / 'eval' / args.run / 'summary.md'}")
    print(f"demo-real: report: {REPO_ROOT / 'reports' / args.run / 'report.html'}")
    if args.arm64_limit > 0:
        print(f"demo-real: arm64 report: {REPO_ROOT / 'reports' / (args.run + '-arm64') / 'report.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
