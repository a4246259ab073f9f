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


@pytest.mark.parametrize("sep", ["\u0085", "\u2028", "\u2029", "\x1c"])
def test_text_results_keep_unicode_line_breaks_inside_strings(tmp_path, sep):
    # the C++ runner writes non-ASCII raw: a typed text holding U+2028 must stay one record
    text = f"see you{sep}tomorrow"
    row = {"id": "a", "output_ids": [1], "prefill_ms": 1, "decode_ms": 2, "ttft_ms": 1, "new_tokens": 1,
           "raw_text": text, "guarded_text": text, "tokenize_ms": 0.1, "guard_ms": 0.1, "end_to_end_ms": 4}
    p = tmp_path / "r.jsonl"
    rows = [json.dumps(r, ensure_ascii=False) for r in (row, row | {"id": "b"})]
    p.write_text(rows[0] + "\r\n" + rows[1], encoding="utf-8")
    got = protocol.read_results(p, text_mode=True)
    assert [(r["id"], r["guarded_text"]) for r in got] == [("a", text), ("b", text)]


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


def _neuspell(folder, pairs):
    folder.mkdir(parents=True)
    (folder / "corrupt.txt").write_text("".join(a + "\n" for a, _ in pairs))
    (folder / "correct.txt").write_text("".join(b + "\n" for _, b in pairs))
    return folder


def test_real_slice_loads_tagged_limited_and_validated(tmp_path):
    from device_bench.inputs import load_real

    bea = _neuspell(tmp_path / "neuspell-bea-mini", [(f"i tought {i}", f"i thought {i}") for i in range(5)])
    rows, info = load_real(bea, 3, "eval_data")
    assert [r["id"] for r in rows] == ["r00000", "r00001", "r00002"]
    assert {r["set"] for r in rows} == {"neuspell-bea-mini[:3]"} == {info["name"]}
    assert info["case_insensitive"] and info["n"] == 3 and not info["main"] and len(info["sha256"]) == 64
    assert load_real(bea, 0, "eval_data")[1]["name"] == "neuspell-bea-mini"  # 0 = all, no slice tag
    assert load_real(bea, 3, "eval_data")[1]["sha256"] == info["sha256"]
    assert load_real(bea, 4, "eval_data")[1]["sha256"] != info["sha256"]  # the resume fingerprint moves
    with pytest.raises(ConfigError, match="real_limit"):
        BenchConfig(real_limit=-1)
    with pytest.raises(ConfigError, match="nowhere/neuspell"):
        BenchConfig(real_eval=str(tmp_path / "nowhere/neuspell"))
    with pytest.raises(BenchInputError, match="nowhere"):
        load_real(tmp_path / "nowhere", 5, "eval_data")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "corrupt.txt").write_text("a\nb\n")
    (tmp_path / "odd" / "correct.txt").write_text("a\n")
    with pytest.raises(BenchInputError, match="real_eval .*odd.*aligned"):
        load_real(tmp_path / "odd", 5, "eval_data")
    assert load_config(BenchConfig, CONFIG_DIR / "default.yaml").real_eval == ""


def test_sets_are_scored_apart_and_reported_per_set():
    from device_bench import report
    from device_bench.bench import score_sets

    samples = [{"id": "s0", "input": "teh cat", "output": "the cat", "set": "eval_data"},
               {"id": "r0", "input": "I tought so", "output": "i thought so", "set": "neuspell-bea"}]
    sets = {"eval_data": {"case_insensitive": False, "main": True},
            "neuspell-bea": {"case_insensitive": True, "main": False}}
    by_set, rows = score_sets(samples, ["The cat", "I thought so"], sets, "eval_data")
    assert by_set["eval_data"]["guarded"]["exact_match"] == 0  # case counts on the main set
    assert by_set["neuspell-bea"]["guarded"]["exact_match"] == 1  # BEA: case-insensitive
    assert by_set["neuspell-bea"]["n"] == 1 and [r["set"] for r in rows] == ["eval_data", "neuspell-bea"]
    unit = {"device": "host", "model": "m", "mode": "plain", "status": "ok", "error": None, "reps": [],
            "metrics": {}, "accuracy": {k: by_set["eval_data"][k] for k in ("guarded", "raw")},
            "accuracy_by_set": by_set}
    base = {"symspell": {"guarded": by_set["eval_data"]["guarded"], "accuracy_by_set": by_set}}
    rep = report.build_report("r", {"reps": 1, "warmup": 0, "note": "a smoke test"}, [], samples,
                              {"path": "e", "n": 1, "main_set": "eval_data",
                               "sets": {"eval_data": {**sets["eval_data"], "n": 1},
                                        "neuspell-bea": {**sets["neuspell-bea"], "n": 1, "path": "p"}}},
                              [unit], {}, base)
    rows = report.accuracy_rows(rep)
    assert [(r[0], r[1]) for r in rows] == [("m (plain) on host", "eval_data"),
                                            ("baseline: symspell (host)", "eval_data"),
                                            ("m (plain) on host", "neuspell-bea"),
                                            ("baseline: symspell (host)", "neuspell-bea")]
    md = report.markdown(rep | {"models": {"m": {"quantization": "int8", "size_bytes": 10**6}}})
    assert "| m (plain) on host | neuspell-bea | 1 | 1.000 |" in md and "a smoke test" in md
    assert "Real typo slice: neuspell-bea" in md and "case-insensitively" in md


def test_a_plain_template_export_needs_no_chat_template(tiny_base, tmp_path):
    """A base without a chat template (Gemma 3 270M base) is exported with core.prompt's plain
    template: the bench builds the same prompt from it; a chat model's export without its
    template stays an error."""
    import shutil

    from core import prompt
    from core.loading import load_tokenizer as load_hf
    from device_bench.inputs import ModelInfo, load_tokenizer

    shutil.copy(tiny_base / "tokenizer.json", tmp_path / "tokenizer.json")
    pte = tmp_path / "m.pte"
    plain = {"prompt": {"template": "plain", "instruction": "Fix it.", "chat_template": None}}
    info = ModelInfo(pte, "m", 1, "0" * 64, plain, tmp_path / "tokenizer.json")
    tok = load_tokenizer(info)
    ref = load_hf(str(tiny_base))
    ref.chat_template = None
    prompt.set_instruction(ref, "Fix it.")
    assert prompt.template_kind(tok) == "plain"
    assert prompt.prompt_ids(tok, "helo there") == prompt.prompt_ids(ref, "helo there")
    with pytest.raises(BenchInputError, match="no chat template"):
        load_tokenizer(ModelInfo(pte, "m", 1, "0" * 64, {"prompt": {"template": "chat"}},
                                 tmp_path / "tokenizer.json"))
