"""run_bench: inputs -> devices -> units -> report (the library entry point of the CLI)."""
from __future__ import annotations

import dataclasses

from core.config import to_dict
from core.errors import BenchError
from core.paths import check_output_dir, input_path, output_path
from core.runs import atomic_write_json, check_run_name, sha256_file
from device_bench import adb, bench, report
from device_bench.config import BenchConfig
from device_bench.inputs import load_eval, load_model_info


def run_baselines(names: list[str], samples: list[dict], case_insensitive: bool) -> dict:
    """Host baselines (identity, SymSpell...) on the same sentences, same metrics and guard."""
    from evaluation.scoring import score_outputs

    out = {}
    for name in names:
        try:
            from evaluation.correctors import make_corrector

            outputs = make_corrector(name).correct([s["input"] for s in samples])
        except Exception as exc:  # a baseline is context, not the bench: record why it is missing
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        scores = score_outputs([s["input"] for s in samples], [s["output"] for s in samples], outputs,
                               case_insensitive=case_insensitive)
        out[name] = {"guarded": scores["guarded"], "raw": scores["raw"]}
    return out


def run_bench(cfg: BenchConfig, model_paths: list[str], eval_path: str, devices: str, run: str,
              runner: str | None = None, adb_port: int | None = None, html: bool = True) -> dict:
    check_run_name(run, "--run")  # a report never lands outside reports_dir
    check_output_dir(output_path(cfg.reports_dir), "reports_dir")
    cfg = dataclasses.replace(cfg, runner_host=str(input_path(cfg.runner_host)),
                              runner_android=str(input_path(cfg.runner_android)))
    try:
        return _run_bench(cfg, model_paths, eval_path, devices, run, runner, adb_port, html)
    finally:
        adb.stop_started_servers()  # the adb server this run started does not outlive it


def _run_bench(cfg: BenchConfig, model_paths: list[str], eval_path: str, devices: str, run: str,
               runner: str | None, adb_port: int | None, html: bool) -> dict:
    models = [load_model_info(p) for p in model_paths]
    if len({m.name for m in models}) != len(models):
        raise BenchError(f"two models share a name: {[m.name for m in models]}")
    samples = load_eval(eval_path, cfg.limit)
    run_dir = output_path(cfg.reports_dir) / run
    client = adb.adb_client(port=adb_port) if devices != "host" else None
    targets = adb.discover(devices, client, cfg.remote_dir, run_dir / "host-work")  # fail before any file
    run_dir.mkdir(parents=True, exist_ok=True)
    prep = bench.Prepared(cfg, models, samples, run_dir, sha256_file(eval_path))
    units, infos = bench.run_all(targets, prep, runner)
    eval_info = {"path": str(eval_path), "sha256": prep.eval_sha, "n": len(samples)}
    baselines = run_baselines(cfg.baselines, samples, cfg.case_insensitive)
    rep = report.build_report(run, to_dict(cfg) | {"devices": devices, "runner": runner}, models, samples,
                              eval_info, units, infos, baselines)
    html_path = report.write_report(run_dir, rep, html=html)
    atomic_write_json(run_dir / "state.json", {"status": rep["status"], "errors": rep["errors"]})
    return {"run_dir": run_dir, "html": html_path, "report": rep}
