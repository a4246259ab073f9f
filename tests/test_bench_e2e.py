"""Integration: the bench end to end through the REAL adb server and loopback devices,
with the tiny preset's INT8 and INT4 .pte and the host-built runner."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from device_bench.__main__ import main
from device_bench.config import BenchConfig
from device_bench.run import run_bench

pytestmark = pytest.mark.integration


def _cfg(tmp_path: Path, host_runner: Path, **kw) -> BenchConfig:
    base = dict(limit=8, reps=2, warmup=1, runner_host=str(host_runner),
                reports_dir=str(tmp_path / "reports"), max_new_tokens=48, threads=1)
    return BenchConfig(**{**base, **kw})


def _models(tiny_pte) -> list[str]:
    return [str(tiny_pte["int8"]), str(tiny_pte["int4"])]


def test_two_loopback_devices_and_host_in_one_report(tmp_path, tiny_pte, host_runner, bench_eval,
                                                     adb_server, loopback):
    a, b = loopback("phone-a"), loopback("phone-b", props={"ro.product.model": "Phone B"})
    cfg = _cfg(tmp_path, host_runner)
    out = run_bench(cfg, _models(tiny_pte), str(bench_eval), f"host,{a.serial},{b.serial}", "e2e",
                    adb_port=adb_server.port)
    rep, run_dir = out["report"], out["run_dir"]
    assert rep["status"] == "complete" and not rep["errors"]
    for name in ("report.json", "benchmark_results.json", "report.md", "report.html"):
        assert (run_dir / name).is_file()
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    assert len(rep["units"]) == 3 * 2 * 2  # devices x models x modes
    host = {(u["model"], u["mode"]): u for u in rep["units"] if u["device"] == "host"}
    for u in rep["units"]:
        assert u["status"] == "ok" and len(u["reps"]) == 2
        m = u["metrics"]
        for key in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "ttft_mean_ms", "prefill_tok_s",
                    "decode_tok_s", "model_load_ms", "peak_rss_kb", "forwards_per_token"):
            assert m[key]["median"] > 0, (u["device"], key)
        assert all(len(r["results"]) == 8 for r in u["reps"])
        # the device's own outputs, scored on the host, equal the host runner's
        assert u["output_ids"] == host[(u["model"], u["mode"])]["output_ids"]
        assert u["accuracy"] == host[(u["model"], u["mode"])]["accuracy"]
        assert set(u["accuracy"]) == {"guarded", "raw"} and u["accuracy"]["guarded"]["n"] == 8
    facts = rep["devices"][b.serial]["facts"]
    assert facts["model"] == "Phone B" and facts["android_version"] and facts["abi"] and facts["ram_total_kb"]
    for row in rep["mode_comparison"]:  # both modes side by side, same tokens
        assert row["outputs_identical"] is True and row["copy_acceptance_rate"] is not None
        assert row["plain_forwards_per_token"] == pytest.approx(1.0)
    assert {"identity", "symspell"} <= set(rep["baselines"])
    assert "guarded" in rep["baselines"]["identity"]
    bench = json.loads((run_dir / "benchmark_results.json").read_text())
    assert {r["metric"] for r in bench} >= {"token_per_sec", "model_load_time(ms)",
                                            "avg_inference_latency(ms)"}
    assert all(set(r["benchmarkModel"]) == {"name", "backend", "quantization"} and "deviceInfo" in r
               and r["actualValue"] is not None for r in bench)
    assert {r["benchmarkModel"]["quantization"] for r in bench} == {"int8", "int4"}
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "<script" not in html
    for dev in (a, b):  # cleanup left nothing behind on the phones
        assert not any((dev.root / "data/local/tmp").iterdir())


def test_unplug_mid_run_leaves_partial_report_and_rerun_resumes(tmp_path, tiny_pte, host_runner, bench_eval,
                                                                 adb_server, loopback):
    dev = loopback("flaky")
    cfg = _cfg(tmp_path, host_runner, reps=1, warmup=0)
    units = Path(cfg.reports_dir) / "resume" / "units"
    result = {}
    worker = threading.Thread(target=lambda: result.update(run_bench(
        cfg, _models(tiny_pte), str(bench_eval), dev.serial, "resume", adb_port=adb_server.port)))
    worker.start()
    deadline = time.monotonic() + 300
    while not list(units.glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    dev.stop()  # pull the plug after the first unit finished
    worker.join(300)
    first = result["report"]
    assert first["status"] == "partial"
    ok = [u for u in first["units"] if u["status"] == "ok"]
    failed = [u for u in first["units"] if u["status"] == "failed"]
    assert ok and failed and len(ok) + len(failed) == 4
    assert all("unplugged" in u["error"] or "device" in u["error"] for u in failed)
    assert json.loads((Path(cfg.reports_dir) / "resume" / "report.json").read_text())["status"] == "partial"

    loopback("flaky", port=dev.port)  # replug: same sandbox, same serial
    second = run_bench(cfg, _models(tiny_pte), str(bench_eval), dev.serial, "resume",
                       adb_port=adb_server.port)
    rep = second["report"]
    assert rep["status"] == "complete" and all(u["status"] == "ok" for u in rep["units"])
    kept = {(u["model"], u["mode"]): u["started"] for u in rep["units"]}
    assert all(kept[(u["model"], u["mode"])] == u["started"] for u in ok)  # finished work was not redone


def test_crashing_runner_is_recorded_and_bench_goes_on(tmp_path, tiny_pte, host_runner, bench_eval,
                                                        adb_server, loopback, capsys):
    dev = loopback()
    crasher = tmp_path / "crashy_runner"
    # A runner that segfaults on the INT4 model and is the real runner otherwise.
    crasher.write_text(f'#!/bin/sh\ncase "$*" in *int4*) echo "boom" >&2; kill -SEGV $$;; esac\n'
                       f'exec {host_runner} "$@"\n')
    crasher.chmod(0o755)
    dev.trust(crasher)  # a script: the loopback device runs it only because the test trusts it
    rc = main(["run", "--models", *_models(tiny_pte), "--eval", str(bench_eval), "--devices", dev.serial,
               "--run", "crash", "--runner", str(crasher), "--adb-port", str(adb_server.port), "--no-html",
               "limit=4", "reps=1", "warmup=0", f"reports_dir={tmp_path / 'reports'}"])
    assert rc == 1
    rep = json.loads((tmp_path / "reports" / "crash" / "report.json").read_text())
    by = {(u["model"], u["mode"]): u for u in rep["units"]}
    assert all(by[("tiny-int8", m)]["status"] == "ok" for m in ("plain", "copy"))
    for m in ("plain", "copy"):
        u = by[("tiny-int4", m)]
        assert u["status"] == "failed" and "SIGSEGV" in u["error"] and "boom" in u["error"]
    assert "failed: " in capsys.readouterr().err


def test_device_backend_of_evaluation_matches_host(tiny_pte, host_runner, bench_eval, adb_server, loopback):
    """`make_corrector("device", ...)`: the runner on a (loopback) phone as a Corrector."""
    from evaluation.correctors import make_corrector

    dev = loopback()
    texts = [json.loads(line)["input"] for line in bench_eval.read_text().splitlines()[:4]] + ["  "]
    on_phone = make_corrector("device", str(tiny_pte["int8"]), device=dev.serial, runner=str(host_runner),
                              adb_port=adb_server.port).correct(texts)
    on_host = make_corrector("device", str(tiny_pte["int8"]), device="host", runner=str(host_runner),
                             speculate="copy").correct(texts)
    assert on_phone == on_host and len(on_phone) == 5 and on_phone[-1] == "  "
    assert all(isinstance(t, str) for t in on_phone)


def test_real_typo_slice_is_scored_per_set_beside_the_eval_set(tmp_path, tiny_pte, host_runner, bench_eval):
    """--real: a NeuSpell-format slice rides in the same runner calls; each set is scored on its
    own (the BEA-named one case-insensitively), units and baselines alike, one report row per set."""
    real = tmp_path / "neuspell-bea-mini"
    real.mkdir()
    pairs = [("The cat sat on the mat.", "the cat sat on the mat."), ("I like it.", "i like it."),
             ("We went home.", "we went home."), ("i tought so.", "i thought so."),
             ("she recieved a letter.", "she received a letter."),
             ("word " * 200, "word " * 200)]  # too long for max_seq_len 256: left out, counted
    (real / "corrupt.txt").write_text("".join(a + "\n" for a, _ in pairs))
    (real / "correct.txt").write_text("".join(b + "\n" for _, b in pairs))
    rc = main(["run", "--models", str(tiny_pte["int8"]), "--eval", str(bench_eval), "--devices", "host",
               "--run", "real", "--real", str(real), "limit=4", "reps=1", "warmup=0", "modes=[plain]",
               f"runner_host={host_runner}", f"reports_dir={tmp_path / 'reports'}"])
    assert rc == 0
    run_dir = tmp_path / "reports" / "real"
    rep = json.loads((run_dir / "report.json").read_text())
    sets = rep["eval"]["sets"]
    assert list(sets) == ["eval_data", "neuspell-bea-mini"] and rep["eval"]["main_set"] == "eval_data"
    assert sets["neuspell-bea-mini"]["case_insensitive"] and sets["neuspell-bea-mini"]["n"] == 5
    assert sets["neuspell-bea-mini"]["left_out"] == 1
    assert {s["id"][0] for s in rep["samples"]} == {"s", "r"} and len(rep["samples"]) == 9
    (unit,) = rep["units"]
    assert len(unit["reps"][0]["results"]) == 9  # one runner call covers both sets
    assert unit["fingerprint"]["real_eval"] == str(real) and unit["fingerprint"]["real_sha256"]
    by = unit["accuracy_by_set"]
    assert set(by) == set(sets) and by["eval_data"]["n"] == 4 and by["neuspell-bea-mini"]["n"] == 5
    assert unit["accuracy"]["guarded"] == by["eval_data"]["guarded"]  # the main set, as before
    assert by["neuspell-bea-mini"]["latency_p50_ms"] > 0
    for name in ("identity", "symspell"):
        assert set(rep["baselines"][name]["accuracy_by_set"]) == set(sets)
    ident = rep["baselines"]["identity"]["accuracy_by_set"]["neuspell-bea-mini"]["guarded"]
    assert ident["exact_match"] == pytest.approx(3 / 5)  # case-only pairs count: case-insensitive
    md = (run_dir / "report.md").read_text()
    assert "| tiny-int8 (plain) on host | neuspell-bea-mini | 5 |" in md
    assert "| baseline: identity (host) | neuspell-bea-mini | 5 | 0.600 |" in md
    assert "| tiny-int8 (plain) on host | eval_data | 4 |" in md and "1 left out" in md
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "Real typos (neuspell-bea-mini)" in html
    # resume: the same inputs reuse the unit; another slice invalidates it
    again = main(["run", "--models", str(tiny_pte["int8"]), "--eval", str(bench_eval), "--devices", "host",
                  "--run", "real", "--real", str(real), "--no-html", "limit=4", "reps=1", "warmup=0",
                  "modes=[plain]", f"runner_host={host_runner}", f"reports_dir={tmp_path / 'reports'}"])
    assert again == 0
    assert json.loads((run_dir / "report.json").read_text())["units"][0]["started"] == unit["started"]
