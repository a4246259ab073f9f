"""data -> train -> eval -> export on a rented GPU (RunPod, Lambda, any VM, a Modal container),
with the state on a persistent volume so a pre-empted or lost session resumes.

    python -m cloud.pipeline --state /workspace [--preset smollm2-135m] [--corpus hf:NAME]
        [--data-args "train_pairs=500000"] [--train-args "..."] [--eval-args "limit=1000"]
        [--export-args ""] [--stages data,train,eval,export]

`data/`, `runs/` and `models/` of the checkout become links into --state, then each stage's own
CLI runs in order (what `make` runs), as an argv list: no shell ever sees --preset or the *-args
(those are split like a shell would split words, quotes only), and --preset must name a shipped
train/configs/<preset>.yaml. Rerun the same command after a pre-emption: the pairs are
kept (data is built only when data/train_data.json is missing), training resumes from its newest
checkpoint (the run name comes from the preset and config, so it is the same run), evaluation
reuses finished outputs. Writes <state>/artifacts.zip (the .pte files, metadata, tokenizer,
metrics, training summary and loss curve). Imports nothing heavy: cloud/modal_app.py uses it too.
"""
from __future__ import annotations

import argparse
import io
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

from core.errors import PipelineError

REPO = Path(__file__).resolve().parents[1]
STATE_DIRS = ("data", "runs", "models")
STAGES = ("data", "train", "eval", "export")


class CloudError(PipelineError, RuntimeError):
    """A stage failed, or the state folder cannot be linked in."""


def link_state(repo: Path, state: Path) -> None:
    """repo/data, runs, models -> links into `state` (created); relative links inside them
    (models/checkpoint -> ../runs/...) keep working because both sides live in `state`."""
    real = [repo / n for n in STATE_DIRS if (repo / n).exists() and not (repo / n).is_symlink()]
    if real:  # checked before linking anything: a refused call changes nothing
        raise CloudError(f"{real[0]} is a real folder: move it into {state / real[0].name} first")
    for name in STATE_DIRS:
        target = state / name
        target.mkdir(parents=True, exist_ok=True)
        link = repo / name
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target.resolve(), target_is_directory=True)


PAIRS = "data/train_data.json"  # the data stage runs only while this is missing or empty


def presets(repo: Path = REPO) -> list[str]:
    return sorted(p.stem for p in (repo / "train" / "configs").glob("*.yaml"))


def check_preset(preset: str, repo: Path = REPO) -> str:
    """A shipped preset name (train/configs/<preset>.yaml), nothing else: no path, no flags."""
    shipped = presets(repo)
    if preset not in shipped:
        raise CloudError(f"--preset {preset!r} is not a shipped preset (train/configs/<preset>.yaml); "
                         f"presets: {', '.join(shipped)}")
    return preset


def split_args(text: str, flag: str) -> list[str]:
    """--data-args and friends -> words, split like a shell splits them (quotes only: `;`, `$`,
    backquotes stay literal words that the stage's CLI then rejects)."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise CloudError(f"{flag} {text!r}: {exc}") from None


def stage_commands(preset: str, corpus: str = "", data_args: str = "", train_args: str = "",
                   eval_args: str = "", export_args: str = "", python: str = "python",
                   ) -> list[tuple[str, list[str]]]:
    """(stage, argv) in order, each the stage's own CLI; run without a shell."""
    check_preset(preset)
    corpus_flag = ["--corpus", corpus] if corpus else []
    return [
        ("data", [python, "-m", "datagen", *corpus_flag, *split_args(data_args, "--data-args")]),
        ("train", [python, "-m", "train.train", "--config", f"train/configs/{preset}.yaml",
                   *split_args(train_args, "--train-args")]),
        ("eval", [python, "-m", "evaluation", "--model", "models/checkpoint", "--benchmarks",
                  "data/eval_data.json", "--backends", "hf,identity,symspell", "own_pairs=",
                  "dictionary.misspellings=",  # the real lists (../shared/data) are not on a rented GPU
                  *split_args(eval_args, "--eval-args")]),
        ("export", [python, "-m", "export.export_to_pte", "--model", "models/checkpoint",
                    *split_args(export_args, "--export-args")]),
    ]


def artifact_paths(repo: Path) -> list[Path]:
    """What comes back: small files only (the merged model and checkpoints stay on the volume)."""
    models = repo / "models"
    found = [*models.glob("typing-corrector-*.pte"), *models.glob("typing-corrector-*.json"),
             models / "tokenizer.json", repo / "metrics.json", repo / "model_test_results.csv"]
    link = models / "checkpoint"
    if link.exists():
        run = link.resolve().parent
        found += [run / f for f in ("summary.json", "loss.png", "log.jsonl", "config.yaml", "env.json")]
    return [p for p in found if p.is_file()]


def zip_artifacts(repo: Path) -> bytes:
    """The artifacts as a zip, under their repository-relative names."""
    buf = io.BytesIO()
    runs = (repo / "runs").resolve()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in artifact_paths(repo):
            real = p.resolve()
            rel = Path("runs") / real.relative_to(runs) if real.is_relative_to(runs) else p.relative_to(repo)
            zf.write(p, str(rel))
    return buf.getvalue()


def run_stages(repo: Path, commands: list[tuple[str, list[str]]], after=None) -> None:
    """Run each argv in `repo` (no shell); `after(stage)` runs after every stage, failed or not
    (Modal commits its volume there, so the work done survives). The data stage is skipped
    while its pairs exist, so a rerun keeps them."""
    for stage, argv in commands:
        shown = shlex.join(argv)
        if stage == "data" and (repo / PAIRS).is_file() and (repo / PAIRS).stat().st_size > 0:
            print(f"[cloud] {stage}: {PAIRS} exists, kept (delete it to rebuild the pairs)", flush=True)
            rc = 0
        else:
            print(f"[cloud] {stage}: {shown}", flush=True)
            rc = subprocess.run(argv, cwd=repo).returncode
        if after is not None:
            after(stage)
        if rc != 0:
            raise CloudError(f"stage {stage} failed (exit {rc}); rerun the same command to resume: {shown}")


def main(argv: list[str] | None = None) -> int:
    from core.cli import run_cli
    from core.runs import atomic_write_bytes

    ap = argparse.ArgumentParser(prog="python -m cloud.pipeline", description=__doc__.split("\n\n")[0])
    ap.add_argument("--state", required=True, help="persistent folder (RunPod: /workspace; Lambda: a "
                    "mounted filesystem) that holds data/, runs/, models/")
    ap.add_argument("--preset", default="smollm2-135m", help=f"one of: {', '.join(presets())}")
    ap.add_argument("--corpus", default="", help="clean text for the pairs (default: built-in English)")
    for name in ("data", "train", "eval", "export"):
        ap.add_argument(f"--{name}-args", default="", help=f"key=value overrides for the {name} stage")
    ap.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset, in order")
    args = ap.parse_args(argv)

    def body() -> int:
        stages = [s for s in args.stages.split(",") if s]
        unknown = sorted(set(stages) - set(STAGES))
        if unknown:
            raise CloudError(f"unknown stage(s) {unknown}; stages: {', '.join(STAGES)}")
        # the preset and the *-args are checked before anything is linked
        cmds = stage_commands(args.preset, args.corpus, args.data_args, args.train_args, args.eval_args,
                              args.export_args, python=sys.executable)
        state = Path(args.state).expanduser()
        link_state(REPO, state)
        run_stages(REPO, [(s, c) for s, c in cmds if s in stages])
        atomic_write_bytes(state / "artifacts.zip", zip_artifacts(REPO))
        print(f"[cloud] artifacts: {state / 'artifacts.zip'}")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
