"""Learning curve of a LoRA run against CPU-hours: each chosen checkpoint is taken out as an
adapter (train.snapshot), merged onto its base (core.loading merge) and scored by the real
evaluation (python -m evaluation, hf backend, guarded) on the typed-messages dev set and a
BEA-4660 slice; SymSpell and pyspellchecker are scored once on the same pairs as the bar.

    python -m bench.learning_curve runs/train/<name> [--every 200] [--steps 100,400]
        [--bea-limit 200] [--messages-limit 0] [--threads 2] [--out DIR]

Writes <out>/curve.json (one record per step; resumable: steps already scored are kept) and
<out>/curve.png. CPU-hours of a step = the trainer's process CPU time up to that checkpoint (so a
paused or starved run counts only the work done); for checkpoints written before the trainer
counted it, wall seconds x the torch threads the run used (env.json). A run spread over several
sessions is placed by its own clock either way. A run that went on from another run's snapshot
(`lora.init_from`, train.snapshot's snapshot.json) starts at that snapshot's CPU-hours, and the
plot draws every earlier leg's scored steps up to the snapshot the next leg took.
Figures: messages exact match (full text), BEA spelling correction and over-correction.
--compare CURVE draws another run's curve.json beside this one (the base bake-off: Gemma 3 against
the released SmolLM2 adapter's curve, both by CPU-hours)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from core.cli import run_cli
from core.errors import PipelineError
from core.runs import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
MESSAGES = "evaluation/devsets/messages"
BEA = "../shared/data/eval/neuspell-bea4660"


def checkpoint_steps(run: Path) -> dict[int, Path]:
    found = {}
    for d in sorted((run / "checkpoints").glob("step-*")):
        if (d / "state.pt").is_file():
            found[int(d.name.split("-")[1])] = d
    return found


def train_seconds(ckpt: Path) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of training up to `ckpt`; CPU seconds are -1 for a
    checkpoint written before the trainer counted them."""
    import torch

    state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=False)
    prog = state["progress"]
    return float(prog["seconds"]), float(prog.get("cpu_seconds", -1.0))


def cpu_hours(ckpt: Path, threads: int) -> float:
    """The trainer's own CPU time where the checkpoint has it (pauses and starved steps count
    nothing); else wall seconds x threads, which counts a pause as work."""
    wall, cpu = train_seconds(ckpt)
    return (cpu if cpu >= 0 else wall * threads) / 3600


def run_threads(run: Path, given: int = 0) -> int:
    """torch's intra-op threads of the run (env.json records them; `given` for a run that did not,
    else torch's default: one per core of the machine it ran on)."""
    if given:
        return given
    env = json.loads((run / "env.json").read_text()) if (run / "env.json").is_file() else {}
    machine = env.get("machine") or {}
    return int(machine.get("torch_threads") or machine.get("cpu_count") or os.cpu_count() or 1)


def warm_start(run: Path) -> tuple[float, Path | None, int]:
    """(CPU-hours, run, step) of the snapshot this run went on from (lora.init_from), itself
    placed by its own warm start; (0, None, 0) for a run from scratch or from an adapter with
    no snapshot.json (a release folder: its cost is not on record here)."""
    import yaml

    cfg = yaml.safe_load((run / "config.yaml").read_text()) if (run / "config.yaml").is_file() else {}
    init = Path(((cfg or {}).get("lora") or {}).get("init_from") or "")
    info = init / "snapshot.json"
    if not str(init) or str(init) == "." or not info.is_file():
        return 0.0, None, 0
    snap = json.loads(info.read_text())
    prog, src = snap["progress"], Path(snap["run"])
    secs = prog.get("cpu_seconds", -1.0)
    own = (secs if secs >= 0 else prog["seconds"] * run_threads(src)) / 3600
    return own + warm_start(src)[0], src, int(prog["step"])


def _call(args: list[str], threads: int) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    r = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise PipelineError(f"{' '.join(args[:3])} failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    return r.stdout


def evaluate(model: str, backends: str, out: Path, name: str, args) -> dict:
    """metrics.json of one evaluation run over the messages set and the BEA slice."""
    common = ["-m", "evaluation", "--model", model, "--backends", backends, "--run", name,
              "root_copy=", f"runs_root={out}", "own_pairs="]
    res = {}
    for bench, limit in ((MESSAGES, args.messages_limit), (BEA, args.bea_limit)):
        run = f"{name}-{Path(bench).name}"
        common[common.index("--run") + 1] = run
        _call(common + ["--benchmarks", bench, f"limit={limit}"], args.threads)
        metrics = json.loads((out / "eval" / run / "metrics.json").read_text())
        res.update(metrics["benchmarks"])
    return res


def figures(bench: dict, backend: str) -> dict:
    msg = bench["messages"]["backends"][backend]["guarded"]
    bea = next(v for k, v in bench.items() if k.startswith("neuspell-bea"))["backends"][backend]["guarded"]
    return {"messages_exact": msg["exact_match_full"], "messages_f0_5": msg["f0_5"],
            "messages_case_correction": msg["classes"]["case"]["correction_rate"],
            "messages_punct_correction": msg["classes"]["punctuation"]["correction_rate"],
            "bea_spelling_correction": bea["correction_rate"],
            "bea_spelling_over": bea["over_correction_rate"]}


def score_step(run: Path, step: int, ckpt: Path, out: Path, args) -> dict:
    snap = out / "snapshots" / f"step-{step}"
    if not (snap / "adapter_config.json").is_file():
        _call(["-m", "train.snapshot", str(run), "--step", str(step), "--out", str(snap)], args.threads)
    preset = args.preset_config or (str(run / "config.yaml") if (run / "config.yaml").is_file()
                                    else "train/configs/smollm2-135m-cpu.yaml")
    merged = _call(["-m", "core.loading", "merge", str(snap), "--preset-config", preset,
                    "--cache", str(out / "merged")], args.threads).strip().splitlines()[-1]
    own = cpu_hours(ckpt, run_threads(run, args.run_threads))
    rec = {"step": step, "cpu_hours": warm_start(run)[0] + own, "leg_cpu_hours": own,
           **figures(evaluate(merged, "hf", out, f"step-{step}", args), "hf")}
    print(json.dumps(rec), flush=True)
    return rec


def earlier_legs(run: Path) -> list[dict]:
    """The scored steps of every run this one went on from, oldest first, each up to the
    snapshot the next leg took (a leg with no curve of its own yet is left out)."""
    _, src, step = warm_start(run)
    if src is None:
        return []
    path = src / "curve" / "curve.json"
    here = []
    if path.is_file():
        prev = json.loads(path.read_text())
        here = [{"run": prev["run"], "steps": [r for r in prev["steps"] if r["step"] <= step]}]
    return earlier_legs(src) + here


def reference_points(path: Path) -> dict:
    """Another run's curve.json (e.g. a released adapter's, or another base's) as one line: its
    earlier legs' scored steps and its own, by CPU-hours, for the comparison a bake-off draws."""
    from core.files import read_json

    ref = read_json(path, PipelineError, what="--compare curve")
    steps = [r for leg in ref.get("legs") or [] for r in leg["steps"]] + list(ref.get("steps") or [])
    if not steps:
        raise PipelineError(f"{path}: a curve.json with no scored steps")
    return {"run": ref.get("run", path.parent.name), "file": str(path),
            "steps": sorted(steps, key=lambda r: r["cpu_hours"])}


def plot(curve: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = sorted(curve["steps"], key=lambda r: r["step"])
    x = [r["cpu_hours"] for r in pts]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for k, leg in enumerate(curve.get("legs") or []):  # earlier legs: hollow marks, dashed
        px = [r["cpu_hours"] for r in leg["steps"]]
        tag = f"{leg['run']} (leg {k + 1})"
        ax.plot(px, [r["messages_exact"] for r in leg["steps"]], "o--", mfc="none", color="C0",
                alpha=0.4 + 0.2 * k, label=f"{tag}: messages exact")
        ax.plot(px, [r["bea_spelling_correction"] for r in leg["steps"]], "s--", mfc="none", color="C1",
                alpha=0.4 + 0.2 * k, label=f"{tag}: BEA correction")
        ax2.plot(px, [100 * r["bea_spelling_over"] for r in leg["steps"]], "^--", mfc="none", color="C2",
                 alpha=0.4 + 0.2 * k, label=tag)
    ax.plot(x, [r["messages_exact"] for r in pts], "o-", label="messages: exact (full text)")
    ax.plot(x, [r["bea_spelling_correction"] for r in pts], "s-", label="BEA: spelling correction")
    ax2.plot(x, [100 * r["bea_spelling_over"] for r in pts], "^-", color="C2", label="model")
    for k, ref in enumerate(curve.get("compare") or []):  # other runs: grey tones, dotted
        px, tone = [r["cpu_hours"] for r in ref["steps"]], f"C{7 + k % 3}"
        ax.plot(px, [r["messages_exact"] for r in ref["steps"]], "o:", color=tone, alpha=0.8,
                label=f"{ref['run']}: messages exact")
        ax.plot(px, [r["bea_spelling_correction"] for r in ref["steps"]], "s:", color=tone, alpha=0.8,
                label=f"{ref['run']}: BEA correction")
        ax2.plot(px, [100 * r["bea_spelling_over"] for r in ref["steps"]], "^:", color=tone, alpha=0.8,
                 label=ref["run"])
    for k, (name, b) in enumerate((curve.get("baselines") or {}).items()):
        ax.axhline(b["messages_exact"], ls=":", lw=1, color=f"C{k + 3}",
                   label=f"{name}: messages exact")
        ax.axhline(b["bea_spelling_correction"], ls="--", lw=1, color=f"C{k + 3}",
                   label=f"{name}: BEA correction")
        ax2.axhline(100 * b["bea_spelling_over"], ls="--", lw=1, color=f"C{k + 3}", label=name)
    ax.set_ylabel("rate (guarded)")
    ax.set_ylim(0, 1)
    ax2.set_ylabel("BEA spelling over-correction, % (guarded)")
    ax2.set_ylim(bottom=0)
    for a in (ax, ax2):
        a.set_xlabel("CPU-hours of training (process CPU time)")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    fig.suptitle(f"learning curve: {curve['run']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.learning_curve", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="runs/train/<name> (a LoRA run with checkpoints)")
    ap.add_argument("--every", type=int, default=200, help="score every N-th step's checkpoint")
    ap.add_argument("--steps", default="", help="comma-separated steps instead of --every")
    ap.add_argument("--bea-limit", type=int, default=200)
    ap.add_argument("--messages-limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="threads for scoring")
    ap.add_argument("--run-threads", type=int, default=0,
                    help="threads the run trained with, when its env.json does not record them")
    ap.add_argument("--preset-config", default="",
                    help="the config naming the run's base (default: the run's own config.yaml)")
    ap.add_argument("--baselines", action="store_true", help="also score SymSpell and pyspellchecker once")
    ap.add_argument("--out", default="", help="default: <run>/curve")
    ap.add_argument("--compare", action="append", default=[],
                    help="another run's curve.json to draw beside this one (repeatable), e.g. "
                         "release/smollm2-135m-typo-lora-v2/curve.json for the base bake-off")
    args = ap.parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:
    run = Path(args.run)
    out = Path(args.out) if args.out else run / "curve"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "curve.json"
    fresh = {"run": run.name, "steps": [], "baselines": {}}
    curve = json.loads(path.read_text()) if path.is_file() else fresh
    done = {r["step"] for r in curve["steps"]}
    curve.pop("first_leg", None)  # (one earlier leg only, before runs of three legs)
    curve["legs"] = earlier_legs(run)
    curve["compare"] = [reference_points(Path(c)) for c in args.compare]
    found = checkpoint_steps(run)
    want = [int(s) for s in args.steps.split(",") if s] if args.steps else \
        [s for s in found if s % args.every == 0]
    missing = [s for s in want if s not in found]
    if missing:
        raise PipelineError(f"{run}: no checkpoint for step(s) {missing}; have {sorted(found)}")
    if args.baselines and not curve["baselines"]:
        res = evaluate("none", "symspell,pyspellchecker", out, "baselines", args)
        curve["baselines"] = {b: figures(res, b) for b in ("symspell", "pyspellchecker")}
        atomic_write_json(path, curve)
    for step in want:
        if step in done:
            continue
        curve["steps"].append(score_step(run, step, found[step], out, args))
        curve["steps"].sort(key=lambda r: r["step"])
        atomic_write_json(path, curve)  # after every step: an interrupted curve resumes
        plot(curve, out / "curve.png")
    plot(curve, out / "curve.png")
    print(f"wrote {path} and {out / 'curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
