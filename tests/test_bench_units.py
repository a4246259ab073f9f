"""Fast tier: bench pieces that need no device: runner files, measurements, config,
device-fact parsing, report layout (built from a real bench's unit records shape)."""
from __future__ import annotations

import json

import pytest

from core.config import ConfigError, load_config
from device_bench import facts, measure, protocol
from device_bench.adb import HostTarget, deadline_argv
from device_bench.config import CONFIG_DIR, BenchConfig
from device_bench.inputs import BenchInputError, load_eval


def test_results_truncated_last_line_is_dropped_but_bad_middle_line_names_file_line(tmp_path):
    good = {"id": "a", "output_ids": [1], "prefill_ms": 1, "decode_ms": 2, "ttft_ms": 1, "new_tokens": 1}
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps(good) + "\n" + '{"id": "b", "outp')
    assert [r["id"] for r in protocol.read_results(p)] == ["a"]
    p.write_text('{"id": "b", "outp\n' + json.dumps(good) + "\n")
    with pytest.raises(protocol.ProtocolError, match=r"r.jsonl:1"):
        protocol.read_results(p)
    p.write_text(json.dumps({"id": "c", "output_ids": []}) + "\n")
    with pytest.raises(protocol.ProtocolError, match="lacks prefill_ms"):
        protocol.read_results(p)
    p.write_text(json.dumps({"id": "d", "output_ids": [], "error": "too long"}) + "\n")
    assert protocol.read_results(p)[0]["error"] == "too long"


def test_summary_observer_line_is_parsed(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"model_load_ms": 5, "observer": 'PyTorchObserver {"prompt_tokens": 7}'}))
    assert protocol.read_summary(p)["observer_parsed"] == {"prompt_tokens": 7}


def test_percentiles_and_rep_metrics():
    assert measure.percentile([], 50) is None
    assert measure.percentile([1, 2, 3, 4], 50) == 2.5
    assert measure.percentile([5], 99) == 5
    res = [{"id": "a", "prefill_ms": 10, "decode_ms": 30, "total_ms": 41, "ttft_ms": 10, "new_tokens": 4,
            "forwards": 2, "drafted_tokens": 6, "accepted_tokens": 3},
           {"id": "b", "error": "boom", "output_ids": [], "new_tokens": 0}]
    m = measure.rep_metrics(res, {"a": 20}, {"model_load_ms": 12, "peak_rss_kb": 900})
    assert (m["n_ok"], m["n_errors"], m["latency_p50_ms"]) == (1, 1, 41)
    assert m["prefill_tok_s"] == pytest.approx(2000) and m["decode_tok_s"] == pytest.approx(4000 / 30)
    assert m["forwards_per_token"] == 0.5 and m["acceptance_rate"] == 0.5 and m["model_load_ms"] == 12
    s = measure.spread([3.0, 1.0, 2.0])
    assert (s["median"], s["min"], s["max"]) == (2.0, 1.0, 3.0)


def test_config_yaml_loads_and_rejects_bad_values():
    cfg = load_config(BenchConfig, CONFIG_DIR / "default.yaml")
    assert cfg.modes == ["plain", "copy"]
    with pytest.raises(ConfigError, match="modes"):
        load_config(BenchConfig, CONFIG_DIR / "default.yaml", ["modes=[fast]"])
    with pytest.raises(ConfigError, match="remote_dir"):
        BenchConfig(remote_dir="/data/local/tmp/../../system")
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(BenchConfig, CONFIG_DIR / "default.yaml", ["repz=3"])


def test_eval_errors_name_file_and_line(tmp_path):
    p = tmp_path / "e.json"
    p.write_text('{"input": "a", "output": "b"}\n{"input": 3}\n')
    with pytest.raises(BenchInputError, match=r"e.json:2"):
        load_eval(p)
    good = tmp_path / "good.json"
    good.write_text('{"input": "a", "output": "b"}\n\n{"input": "c", "output": "d"}\n')
    assert load_eval(good, limit=1) == [{"id": "s00000", "input": "a", "output": "b"}]
    assert [r["id"] for r in load_eval(good)] == ["s00000", "s00001"]


def test_fact_parsers():
    assert facts.parse_getprop("[ro.a]: [x y]\n[ro.b]: []\n") == {"ro.a": "x y", "ro.b": ""}
    assert facts.parse_meminfo("MemTotal:  1000 kB\nMemAvailable: 5 kB\n") == {"MemTotal": 1000,
                                                                             "MemAvailable": 5}
    assert facts.parse_thermal("cpu 45000\nbad\nbattery 31\n") == {"cpu": 45.0, "battery": 31.0}


def test_host_target_deadline_and_exit_codes(tmp_path):
    t = HostTarget(tmp_path / "w")
    t.prepare()
    assert deadline_argv(["x"], 2.5)[:4] == ["timeout", "-k", "5", "2"]
    r = t.run(["sh", "-c", "echo o; echo e >&2; exit 4"], timeout_s=10)
    assert (r.returncode, r.stdout, r.stderr) == (4, "o\n", "e\n")
    assert t.run(["sleep", "10"], timeout_s=1).timed_out
