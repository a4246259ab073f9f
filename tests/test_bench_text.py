"""The device bench's text mode (issue 27 item 4): text in, guarded text out on the device.

Integration: the tiny INT8 .pte and the host-built runner on a loopback adb device behind the
REAL adb server; the device tokenizes, decodes and guards (typo_runner --text-meta), the bench
scores the guarded text it returned and checks it against the host guard. Fast: the check and
the refusals on their own."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_bench import bench, report
from device_bench.config import BenchConfig
from device_bench.inputs import BenchInputError, load_model_info


def _cfg(tmp_path: Path, host_runner: Path, **kw) -> BenchConfig:
    base = dict(limit=8, reps=2, warmup=1, runner_host=str(host_runner),
                reports_dir=str(tmp_path / "reports"), max_new_tokens=48, baselines=[], threads=1)
    return BenchConfig(**{**base, **kw})


@pytest.mark.integration
def test_text_mode_on_a_loopback_device(tmp_path, tiny_pte, host_runner, bench_eval, adb_server, loopback):
    from core.spans import protected_strings
    from device_bench.run import run_bench
    from evaluation.guard import guard
    from evaluation.metrics import compute_metrics

    dev = loopback("phone")
    model = str(tiny_pte["int8"])
    out = run_bench(_cfg(tmp_path, host_runner), [model], str(bench_eval), dev.serial, "text",
                    adb_port=adb_server.port)
    rep, run_dir = out["report"], out["run_dir"]
    assert rep["status"] == "complete" and not rep["errors"] and not rep["warnings"], rep["errors"]
    assert rep["text_mode"] is True and len(rep["units"]) == 2  # plain, copy
    samples = rep["samples"]
    for u in rep["units"]:
        assert u["text_mode"] and u["status"] == "ok" and len(u["reps"]) == 2
        for r in u["reps"]:
            m = r["metrics"]
            for key in ("e2e_p50_ms", "e2e_mean_ms", "tokenize_mean_ms", "prefill_mean_ms", "decode_mean_ms",
                        "guard_mean_ms"):
                assert m[key] > 0, (u["mode"], key)
            # end to end = tokenize + the model's part + guard, per request (3-decimal rounding)
            assert m["e2e_mean_ms"] == pytest.approx(m["tokenize_mean_ms"] + m["latency_mean_ms"]
                                                     + m["guard_mean_ms"], abs=0.01)
        assert u["metrics"]["e2e_p50_ms"]["n"] == 2 and u["metrics"]["e2e_p50_ms"]["median"] > 0
        # every request's guarded text, from the device, equals the host guard on the device's raw text
        first = {r["id"]: r for r in u["reps"][0]["results"]}
        assert u["guard_check"] == {"identical": 8, "total": 8, "differences": []}
        for s in samples:
            assert first[s["id"]]["guarded_text"] == guard(s["input"], first[s["id"]]["raw_text"])
        # accuracy is the evaluation's metrics on the device's guarded text
        guarded = [first[s["id"]]["guarded_text"] for s in samples]
        assert u["guarded_outputs"] == guarded
        para = [g != first[s["id"]]["raw_text"] for g, s in zip(guarded, samples)]
        want = compute_metrics([s["input"] for s in samples], [s["output"] for s in samples], guarded,
                               paraphrased=para, fixes=("spelling", "case", "punctuation"))
        want["protected_changed"] = sum(protected_strings(g) != protected_strings(s["input"])
                                        for g, s in zip(guarded, samples))
        assert u["accuracy"]["guarded"] == want
    assert rep["guard_agreement"] == {"identical": 16, "total": 16, "units_with_differences": []}
    md = (run_dir / "report.md").read_text()
    assert "## End to end on the device" in md and "on 16 of 16 requests" in md
    assert "End to end on the device" in (run_dir / "report.html").read_text()
    metrics = {r["metric"] for r in json.loads((run_dir / "benchmark_results.json").read_text())}
    assert {"p50_end_to_end_latency(ms)", "avg_tokenize(ms)", "avg_guard(ms)"} <= metrics
    assert not any((dev.root / "data/local/tmp").iterdir())  # metadata, tokenizer, word list removed too

    # id mode on the host: the same tokens, the same guarded accuracy (the host guard there)
    ids = run_bench(_cfg(tmp_path, host_runner, text_mode=False, reps=1), [model], str(bench_eval), "host",
                    "ids")["report"]
    assert ids["text_mode"] is False and ids["guard_agreement"] is None
    by_mode = {u["mode"]: u for u in ids["units"]}
    for u in rep["units"]:
        host = by_mode[u["mode"]]
        assert "guard_check" not in host and host["metrics"]["e2e_p50_ms"]["median"] is None
        assert u["output_ids"] == host["output_ids"] and u["outputs"] == host["outputs"]
        assert u["accuracy"] == host["accuracy"]
    print(json.dumps({u["mode"]: {k: round(u["metrics"][k]["median"], 3) for k in
                                  ("e2e_p50_ms", "e2e_mean_ms", "tokenize_mean_ms", "prefill_mean_ms",
                                   "decode_mean_ms", "guard_mean_ms", "latency_p50_ms")}
                      for u in rep["units"]}))


def test_guard_check_lists_every_difference():
    samples = [{"id": "s0", "input": "teh cat"}, {"id": "s1", "input": "a dgo"}, {"id": "s2", "input": "x"}]
    results = [{"id": "s0", "raw_text": "the cat", "guarded_text": "the cat"},
               {"id": "s1", "raw_text": "a dog", "guarded_text": "a dgo"},  # not what the host guard gives
               {"id": "s2", "output_ids": [], "error": "timed out"}]  # not decoded: not compared
    check = bench.guard_check(samples, results)
    assert check["identical"] == 1 and check["total"] == 2
    assert check["differences"] == [{"id": "s1", "input": "a dgo", "raw_text": "a dog",
                                     "device_guarded": "a dgo", "host_guarded": "a dog"}]
    unit = {"device": "d", "model": "m", "mode": "plain", "guard_check": check, "text_mode": True}
    lines = report.guard_lines({"guard_agreement": report.guard_agreement([unit]), "units": [unit]})
    assert "on 1 of 2 requests" in lines[0] and "'a dgo'" in lines[1] and "host 'a dog'" in lines[1]


def test_text_mode_refuses_an_export_without_the_prompt(tmp_path):
    pte = tmp_path / "m.pte"
    pte.write_bytes(b"not read here")
    (tmp_path / "m.json").write_text(json.dumps({"tokenizer": {"file": "tokenizer.json"}}))
    model = load_model_info(pte)
    with pytest.raises(BenchInputError, match="prompt.prompt_format.*text_mode=false"):
        bench.text_files(model)
    (tmp_path / "m.json").write_text(json.dumps({"prompt": {"prompt_format": "<{text}>", "eos_ids": [2]},
                                                 "tokenizer": {"file": "../tokenizer.json"}}))
    with pytest.raises(BenchInputError, match="plain file name"):
        bench.text_files(load_model_info(pte))


def test_the_dictionary_pass_is_a_stage_of_its_own_when_the_runner_ran_it():
    from device_bench.measure import stage_metrics

    def req(dict_ms=None, needed=None):
        r = {"tokenize_ms": 0.1, "prefill_ms": 50.0, "decode_ms": 100.0, "guard_ms": 0.2,
             "end_to_end_ms": 150.3}
        if dict_ms is not None:
            r.update(dict_ms=dict_ms, dict_needed=needed, end_to_end_ms=150.3 + dict_ms)
        return r

    on = stage_metrics([req(0.05, False), req(30.0, True), req(10.0, True), req(0.04, False)])
    assert on["dict_needed_share"] == 0.5 and on["dict_p50_ms"] == pytest.approx(5.025)
    assert on["dict_mean_ms"] == pytest.approx(40.09 / 4)
    off = stage_metrics([req(), req()])
    assert off["dict_p50_ms"] is None and off["dict_needed_share"] is None and off["e2e_p50_ms"] == 150.3
    scope = report.accuracy_scope({"text_mode": True, "config": {"dictionary": True}})
    assert "dictionary pass output" in scope
