"""run_bench: inputs -> devices -> units -> report (the library entry point of the CLI)."""
from __future__ import annotations

import dataclasses
import shutil

from core.config import to_dict
from core.errors import BenchError
from core.files import check_input
from core.paths import check_not_an_input, check_output_dir, input_path, output_path
from core.runs import atomic_write_json, check_run_name, run_lock, sha256_file
from device_bench import adb, bench, report
from device_bench.config import BenchConfig
from device_bench.inputs import BenchInputError, load_eval, load_model_info, load_real, main_set


def run_baselines(names: list[str], samples: list[dict], sets: dict[str, dict], main: str) -> dict:
    """Host baselines (identity, SymSpell...) on the same sentences, same metrics and guard:
    {"guarded", "raw"} on the main set and "accuracy_by_set" for every set (as the units)."""
    out = {}
    for name in names:
        try:
            from evaluation.correctors import make_corrector

            outputs = make_corrector(name).correct([s["input"] for s in samples])
        except Exception as exc:  # a baseline is context, not the bench: record why it is missing
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        by_set, _ = bench.score_sets(samples, outputs, sets, main)
        out[name] = {"guarded": by_set[main]["guarded"], "raw": by_set[main]["raw"],
                     "accuracy_by_set": by_set}
    return out


def eval_sets(cfg: BenchConfig, eval_path: str) -> tuple[list[dict], dict[str, dict], str]:
    """The main eval set's samples (tagged with its name) plus the real slice's when
    cfg.real_eval is set; the sets' records; the main set's name."""
    main = main_set(eval_path)
    samples = [{**s, "set": main} for s in load_eval(eval_path, cfg.limit)]
    sets = {main: {"name": main, "path": str(eval_path), "sha256": sha256_file(eval_path), "n": len(samples),
                   "case_insensitive": cfg.case_insensitive, "main": True}}
    if cfg.real_eval:
        real, info = load_real(cfg.real_eval, cfg.real_limit, main)
        samples += real
        sets[info["name"]] = info
    return samples, sets, main


def check_inputs_outside(run_dir, model_paths: list[str], eval_path: str, real_eval: str,
                         runner: str | None) -> None:
    """The report folder gets requests, results and reports written into it (again on a resume):
    no input may lie in it (a model's tokenizer.json sits beside it), and it may not lie inside an
    input folder (core/paths.py: the overwrite rule)."""
    inputs = [("--eval", eval_path), ("real_eval", real_eval), ("--runner", runner)]
    for name, path in inputs + [("--models", p) for p in model_paths]:
        if path:
            check_not_an_input(run_dir, "the report folder", {name: input_path(path)})


def run_bench(cfg: BenchConfig, model_paths: list[str], eval_path: str, devices: str, run: str,
              runner: str | None = None, adb_port: int | None = None, html: bool = True) -> dict:
    check_run_name(run, "--run")  # a report never lands outside reports_dir
    check_output_dir(output_path(cfg.reports_dir), "reports_dir")
    check_inputs_outside(output_path(cfg.reports_dir) / run, model_paths, eval_path, cfg.real_eval, runner)
    cfg = dataclasses.replace(cfg, runner_host=str(input_path(cfg.runner_host)),
                              runner_android=str(input_path(cfg.runner_android)))
    try:
        # held until the report is written: a second bench into the same report would mix its units in
        with run_lock(output_path(cfg.reports_dir) / run, "the report folder"):
            return _run_bench(cfg, model_paths, eval_path, devices, run, runner, adb_port, html)
    finally:
        adb.stop_started_servers()  # the adb server this run started does not outlive it


def _run_bench(cfg: BenchConfig, model_paths: list[str], eval_path: str, devices: str, run: str,
               runner: str | None, adb_port: int | None, html: bool) -> dict:
    models = [load_model_info(p) for p in model_paths]
    if len({m.name for m in models}) != len(models):
        raise BenchError(f"two models share a name: {[m.name for m in models]}")
    samples, sets, main = eval_sets(cfg, eval_path)
    run_dir = output_path(cfg.reports_dir) / run
    if runner:  # one binary for every device: named now, not as each unit's failure
        check_input(input_path(runner), "--runner", BenchInputError, want="file")
    client = adb.adb_client(port=adb_port) if devices != "host" else None
    targets = adb.discover(devices, client, cfg.remote_dir, run_dir / "host-work")  # fail before any file
    made = not run_dir.exists()
    try:
        prep = bench.Prepared(cfg, models, samples, run_dir, sets[main]["sha256"], sets)
    except BaseException:
        if made and run_dir.is_dir():  # only the request files it had begun to write
            shutil.rmtree(run_dir)
        raise
    run_dir.mkdir(parents=True, exist_ok=True)
    units, infos = bench.run_all(targets, prep, runner)
    eval_info = {"path": str(eval_path), "sha256": prep.eval_sha, "n": sets[main]["n"], "main_set": main,
                 "sets": prep.sets}
    baselines = run_baselines(cfg.baselines, prep.samples, prep.sets, main)
    rep = report.build_report(run, to_dict(cfg) | {"devices": devices, "runner": runner}, models,
                              prep.samples, eval_info, units, infos, baselines)
    html_path = report.write_report(run_dir, rep, html=html)
    atomic_write_json(run_dir / "state.json", {"status": rep["status"], "errors": rep["errors"]})
    return {"run_dir": run_dir, "html": html_path, "report": rep}
