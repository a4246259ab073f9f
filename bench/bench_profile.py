"""Per-operator profile of an exported `.pte`: where the time of one prefill and of one
decode step goes, from ExecuTorch's own event tracer (ETDump) read with the devtools'
Inspector. Shares of the method's time, so the table is comparable across loaded machines.

    python -m bench.bench_profile --pte models/typing-corrector-int4.pte [--pte other.pte] \
        [--text "..."] [--decode-steps 32] [--threads 1] [--out runs/profile] \
        [--runner android_runner/build/host-etdump/typo_runner]

For each file: one warm-up request, then R prefills of the prompt (one ETDump) and one
prefill followed by greedy decode steps (a second ETDump; the prefill run is dropped).
With --runner (a typo_runner built with ETDump: `ETDUMP=1 android_runner/build_host.sh`) the
C++ runner makes the calls and writes the ETDumps (TYPO_ETDUMP=<file>) instead of the Python
runtime: R+1 one-token requests (the first, cold, dropped) and two requests of up to
decode-steps tokens, the prefix cache off (the first request and the prefill dropped); the
runner stops at an end-of-turn token, so the decode rows may count fewer steps.
Rows: operator (ExecuTorch kernel, or the XNNPACK delegate call), delegated or not, calls
per step, mean ms per step and share of the step's `Method::execute` time; "(runtime)" is
what the method spent outside any operator. Raw per-run times are kept in the JSON
(`<out>/profile.json`, JSON first) and `<out>/profile.md` is rendered from it.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from core.files import jsonl_lines

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_TEXT = "I beleive this sentense has sum typos, and their are more of them hear."
EXECUTE = "Method::execute"
DELEGATE = "DELEGATE_CALL"  # one backend call (its operators are reported inside it)
WRAPPERS = {"OPERATOR_CALL"}  # each kernel call is also wrapped in one of these: not counted twice


class ProfileError(RuntimeError):
    """The ETDump has no runs to profile (or not the runs this script made)."""


def _runs(etdump: Path) -> list[dict[str, list[float]]]:
    """ETDump -> per run: {event name: [ms of each occurrence]}, events named as the
    Inspector names them (kernels as native_call_<op>, delegate calls, Method::execute)."""
    from executorch.devtools import Inspector

    ins = Inspector(etdump_path=str(etdump))
    runs: list[dict[str, list[float]]] = []
    for block in ins.event_blocks:
        if block.name == "Default":  # load/init events, not a run
            continue
        n = max((len(e.perf_data.raw) for e in block.events if e.perf_data), default=0)
        block_runs: list[dict[str, list[float]]] = [{} for _ in range(n)]
        for e in block.events:
            if not e.perf_data or e.name in WRAPPERS:
                continue
            name = _event_name(e)
            for i, ms in enumerate(e.perf_data.raw):
                block_runs[i].setdefault(name, []).append(float(ms))
        runs.extend(r for r in block_runs if set(r) - {EXECUTE})  # not a constant method's call
    if not runs:
        raise ProfileError(f"{etdump}: no executed runs in the ETDump")
    return runs


def _event_name(e) -> str:
    """Kernels keep their event name; operators inside a delegate (XNNPACK's own profiling)
    become "delegate: <op>" without XNNPACK's per-instance suffix (" #3")."""
    if e.is_delegated_op or e.delegate_backend_name:
        return f"delegate: {re.sub(r' #[0-9]+$', '', e.name)}"
    return e.name


def table(runs: list[dict[str, list[float]]]) -> list[dict[str, Any]]:
    """Mean over runs of each operator's time per run, as rows that add up to the step:
    kernels outside the delegate, operators inside it, "(delegate overhead)" (delegate call
    time outside its operators) and "(runtime)" (method time outside any call). Sorted by time."""
    if not runs or any(EXECUTE not in r for r in runs):
        raise ProfileError("every run needs a Method::execute event")
    step = statistics.mean(sum(r[EXECUTE]) for r in runs)
    names = sorted({k for r in runs for k in r} - {EXECUTE, DELEGATE})
    rows = []
    for name in names:
        ms = statistics.mean(sum(r.get(name, [])) for r in runs)
        calls = statistics.mean(len(r.get(name, [])) for r in runs)
        rows.append(_row(_op_label(name), name.startswith("delegate: "), calls, ms, step))
    calls = statistics.mean(sum(r.get(DELEGATE, [])) for r in runs)
    inside = sum(r["ms"] for r in rows if r["delegated"])
    outside = sum(r["ms"] for r in rows if not r["delegated"])
    n_calls = statistics.mean(len(r.get(DELEGATE, [])) for r in runs)
    rows.append(_row("(delegate overhead)", True, n_calls, max(0.0, calls - inside), step))
    rows.append(_row("(runtime)", False, 0.0, max(0.0, step - calls - outside), step))
    rows.sort(key=lambda r: -r["ms"])
    return [{**r, "step_ms": step} for r in rows]


def _row(op: str, delegated: bool, calls: float, ms: float, step: float) -> dict[str, Any]:
    share = ms / step if step else 0.0
    return {"operator": op, "delegated": delegated, "calls": calls, "ms": ms, "share": share}


def _op_label(name: str) -> str:
    return name.removeprefix("native_call_").removeprefix("delegate: ")


def _prompt(pte: Path, text: str) -> list[int]:
    from core.prompt import prompt_ids
    from export.runtime import load_pte_tokenizer

    return prompt_ids(load_pte_tokenizer(pte), text)


def _session(pte: Path, etdump: Path, feeds: list[tuple[list[int], int]], greedy_from: int) -> list[int]:
    """Load `pte` with ETDump on, run `feeds` (ids, start) and then, if greedy_from > 0, that
    many greedy decode steps after the last feed; write the ETDump. Returns the decoded ids."""
    import torch

    from export.runtime import _load_program

    program = _load_program(pte, enable_etdump=True, debug_buffer_size=0)
    fwd = program.load_method("forward")
    out: list[int] = []
    logits = None
    for ids, start in feeds:
        logits = fwd.execute([torch.tensor([ids]), torch.arange(start, start + len(ids))])[0]
    pos = feeds[-1][1] + len(feeds[-1][0])
    for _ in range(greedy_from):
        tok = int(logits[0, -1].argmax())
        out.append(tok)
        logits = fwd.execute([torch.tensor([[tok]]), torch.tensor([pos])])[0]
        pos += 1
    program.write_etdump_result_to_file(str(etdump), str(etdump.with_suffix(".debug.bin")))
    return out


def _runner_session(runner: Path, pte: Path, etdump: Path, prompt: list[int], requests: int,
                    max_new: int, threads: int) -> list[dict[str, Any]]:
    """Run `requests` copies of `prompt` through the ETDump build of typo_runner (no warm-up,
    no prefix cache) writing `etdump`; returns the result lines."""
    import os
    import subprocess

    work = etdump.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    req, res, summ = work / "requests.jsonl", work / "results.jsonl", work / "summary.json"
    req.write_text("".join(json.dumps({"id": i, "prompt_ids": prompt, "max_new_tokens": max_new}) + "\n"
                           for i in range(requests)))
    etdump.unlink(missing_ok=True)
    cmd = [str(runner), "--model", str(pte), "--requests", str(req), "--results", str(res),
           "--summary", str(summ), "--threads", str(threads), "--warmup", "0", "--prefix-cache", "off"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TYPO_ETDUMP": str(etdump)})
    if proc.returncode != 0 or not etdump.is_file():
        raise ProfileError(f"{runner} exited {proc.returncode} without an ETDump at {etdump} "
                           f"(built with ETDUMP=1?): {proc.stderr.strip()[-500:]}")
    results = [json.loads(line) for line in jsonl_lines(res.read_text(encoding="utf-8")) if line.strip()]
    bad = [r for r in results if r.get("error")]
    if bad:
        raise ProfileError(f"{runner}: request failed: {bad[0]['error']}")
    return results


def _runner_runs(runner: Path, pte: Path, stem: Path, prompt: list[int], decode_steps: int, prefills: int,
                 threads: int) -> tuple[list, list, list[int]]:
    _runner_session(runner, pte, stem.with_suffix(".prefill.etdp"), prompt, prefills + 1, 1, threads)
    prefill_runs = _runs(stem.with_suffix(".prefill.etdp"))[1:]  # the first (cold) prefill dropped
    res = _runner_session(runner, pte, stem.with_suffix(".decode.etdp"), prompt, 2, decode_steps + 1, threads)
    decode_runs = _runs(stem.with_suffix(".decode.etdp"))[res[0]["forwards"] + 1:]  # request 2's steps
    return prefill_runs, decode_runs, res[1]["output_ids"]


def profile(pte: Path, out_dir: Path, text: str, decode_steps: int, prefills: int,
            runner: Path | None = None, threads: int = 1) -> dict[str, Any]:
    prompt = _prompt(pte, text)
    if len(prompt) + decode_steps + 1 > 4096:
        raise ProfileError("prompt + decode steps too long")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / pte.stem
    if runner is not None:
        prefill_runs, decode_runs, decoded = _runner_runs(runner, pte, stem, prompt, decode_steps, prefills,
                                                          threads)
    else:
        _session(pte, stem.with_suffix(".warmup.etdp"), [(prompt, 0)], greedy_from=4)  # page in weights
        _session(pte, stem.with_suffix(".prefill.etdp"), [(prompt, 0)] * prefills, greedy_from=0)
        decoded = _session(pte, stem.with_suffix(".decode.etdp"), [(prompt, 0)], greedy_from=decode_steps)
        prefill_runs = _runs(stem.with_suffix(".prefill.etdp"))
        decode_runs = _runs(stem.with_suffix(".decode.etdp"))[1:]  # run 0 is the prefill
    if not decode_runs:
        raise ProfileError(f"{pte.name}: no decode step was traced (the answer ended at once?)")
    meta_path = pte.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    return {
        "pte": str(pte), "recipe": meta.get("recipe"), "size_bytes": pte.stat().st_size,
        "runtime": f"typo_runner ({runner})" if runner is not None else "Python runtime (pybindings)",
        "prompt_tokens": len(prompt), "decode_steps": len(decode_runs), "decoded_ids": decoded,
        "prefill": {"table": table(prefill_runs), "runs": prefill_runs},
        "decode": {"table": table(decode_runs), "runs": decode_runs},
    }


def render(report: dict[str, Any], top: int = 12) -> str:
    lines = [f"# Per-operator profile ({report['machine']})", "",
             f"threads {report['threads']}; text: {report['text']!r}", ""]
    if report["files"]:
        lines += [f"runtime: {report['files'][0].get('runtime', 'Python runtime (pybindings)')}", ""]
    for p in report["files"]:
        for phase in ("prefill", "decode"):
            rows = p[phase]["table"]
            step = rows[0]["step_ms"] if rows else 0.0
            what = (f"{p['prompt_tokens']} prompt tokens" if phase == "prefill"
                    else f"one token, mean of {p['decode_steps']} steps")
            delegated = sum(r["share"] for r in rows if r["delegated"])
            lines += [f"## {Path(p['pte']).name} ({p['recipe']}): {phase}, {what}: {step:.2f} ms", "",
                      f"{100 * delegated:.1f}% of the time inside the XNNPACK delegate (its operators and "
                      "call overhead).", "",
                      "| operator | delegated | calls | ms | share |", "|---|---|---|---|---|"]
            lines += [f"| `{r['operator']}` | {'yes' if r['delegated'] else 'no'} | {r['calls']:g} | "
                      f"{r['ms']:.3f} | {100 * r['share']:.1f}% |" for r in rows[:top]]
            rest = rows[top:]
            if rest:
                lines.append(f"| ({len(rest)} more) | | | {sum(r['ms'] for r in rest):.3f} | "
                             f"{100 * sum(r['share'] for r in rest):.1f}% |")
            lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pte", type=Path, action="append", required=True)
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--prefills", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--machine", default="this host", help="where it ran, for the report")
    ap.add_argument("--out", type=Path, default=Path("runs/profile") / time.strftime("%Y%m%d-%H%M%S"))
    ap.add_argument("--runner", type=Path, default=None,
                    help="profile through this typo_runner (built with ETDUMP=1), not the Python runtime")
    a = ap.parse_args(argv)
    if a.runner is not None and not a.runner.is_file():
        ap.error(f"--runner {a.runner}: no such file (build it: ETDUMP=1 android_runner/build_host.sh)")
    if a.decode_steps < 1 or a.prefills < 1 or a.threads < 1:
        ap.error("--decode-steps, --prefills and --threads must be >= 1")
    from executorch.extension.pybindings import portable_lib

    portable_lib._unsafe_reset_threadpool(a.threads)
    files = [profile(p, a.out / p.stem, a.text, a.decode_steps, a.prefills, a.runner, a.threads)
             for p in a.pte]
    report = {"machine": a.machine, "threads": a.threads, "text": a.text, "files": files}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "profile.json").write_text(json.dumps(report, indent=1))
    md = render(report)
    (a.out / "profile.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
