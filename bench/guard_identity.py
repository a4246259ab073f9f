"""The C++ guard (corrector/, what the runner's text mode runs) against evaluation/guard.py on a
real model's raw answers: every pair of an evaluation run's cached outputs (runs/eval/<run>/outputs/
<set>__<backend>.jsonl), each guarded by both, compared string for string. Issue 27's target:
identical on every BEA-4660 pair and every typed-messages dev pair. (tests/test_corrector_cpp.py
does the same with raw answers made from the references; this one needs a model's answers.)

    .venv/bin/python -m bench.guard_identity runs/eval/v2-final-real        # backend hf, every set
    .venv/bin/python -m bench.guard_identity runs/eval/r1-final-real --out runs/bench/guard-identity-r1.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.files import jsonl_lines

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def raw_answers(run: Path, backend: str) -> dict[str, list[tuple[str, str]]]:
    """set name -> [(input, raw answer)] from a run's cached outputs and its benchmarks."""
    import yaml

    from evaluation.eval_sets import load_benchmarks

    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    benches = {b.name: b for b in load_benchmarks(cfg["benchmarks"])}
    found = {}
    for path in sorted((run / "outputs").glob(f"*__{backend}.jsonl")):
        name = path.name[: -len(f"__{backend}.jsonl")]
        if name not in benches:
            raise SystemExit(f"{path}: set {name!r} is not among the run's benchmarks {sorted(benches)}")
        rows = [json.loads(line) for line in jsonl_lines(path.read_text(encoding="utf-8")) if line.strip()]
        pairs = benches[name].pairs
        found[name] = [(pairs[r["i"]].input, r["output"]) for r in rows]
    if not found:
        raise SystemExit(f"{run / 'outputs'}: no *__{backend}.jsonl "
                         f"(an evaluation run folder with --backends {backend})")
    return found


def compare(cases: list[tuple[str, str]], tool: Path, words: Path) -> dict:
    """Both guards on every (input, raw) case: counts and every difference."""
    import subprocess

    from evaluation.guard import guard

    lines = "".join(json.dumps({"input": x, "output": y}) + "\n" for x, y in cases)
    done = subprocess.run([str(tool), "guard", str(words)], input=lines, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"tc_tool guard failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    cpp = [json.loads(line)["guarded"] for line in jsonl_lines(done.stdout)]
    if len(cpp) != len(cases):
        raise SystemExit(f"tc_tool guard answered {len(cpp)} of {len(cases)} cases")
    py = [guard(x, y) for x, y in cases]
    diffs = [{"input": x, "raw": y, "python": p, "cpp": c}
             for (x, y), p, c in zip(cases, py, cpp) if p != c]
    changed = sum(p != y for (_, y), p in zip(cases, py))
    return {"total": len(cases), "identical": len(cases) - len(diffs), "guard_changed": changed,
            "differences": diffs}


def main(argv: list[str] | None = None) -> int:
    from core.runs import atomic_write_json, env_info
    from tests.fixtures.corrector_cpp import BUILD, build, english_words_file

    ap = argparse.ArgumentParser(prog="python -m bench.guard_identity", description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="an evaluation run folder (runs/eval/<run>) with cached outputs")
    ap.add_argument("--backend", default="hf", help="whose raw answers (not hf+dict: those are final text)")
    ap.add_argument("--out", default="", help="JSON report (default runs/bench/guard-identity-<run>.json)")
    args = ap.parse_args(argv)
    run = Path(args.run)
    if not (run / "config.yaml").is_file():
        print(f"{run}: not an evaluation run folder (no config.yaml)", file=sys.stderr)
        return 2
    build()
    sets = raw_answers(run, args.backend)
    report = {"run": str(run), "backend": args.backend, "env": env_info(0), "sets": {}}
    for name, cases in sets.items():
        res = compare(cases, BUILD / "tc_tool", english_words_file())
        report["sets"][name] = res
        print(f"{name:20s} {res['identical']:5d} of {res['total']:5d} identical "
              f"(the guard changed {res['guard_changed']} raw answers)", flush=True)
        for d in res["differences"][:5]:
            print(f"  input {d['input']!r}\n  raw   {d['raw']!r}\n"
                  f"  py    {d['python']!r}\n  cpp   {d['cpp']!r}")
    out = Path(args.out or REPO / "runs" / "bench" / f"guard-identity-{run.name}.json")
    atomic_write_json(out, report)
    print(f"wrote {out}")
    return 0 if all(not s["differences"] for s in report["sets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
