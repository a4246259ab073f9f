"""bench.bakeoff: the bake-off table from what `make eval` and the device bench wrote."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bakeoff


def _guarded(exact: float, f05: float, corr: float, over: float) -> dict:
    return {"guarded": {"exact_match": exact, "exact_match_full": exact - 0.01, "f0_5": f05,
                        "correction_rate": corr, "over_correction_rate": over}}


def _eval_run(root: Path, name: str, scale: float) -> Path:
    run = root / "runs" / "eval" / name
    run.mkdir(parents=True)
    benches = {}
    for bench in ("messages", "neuspell-bea4660"):
        benches[bench] = {"backends": {"hf": _guarded(0.6 * scale, 0.8, 0.7 * scale, 0.002),
                                       "hf+dict": _guarded(0.62 * scale, 0.82, 0.75 * scale, 0.002),
                                       "symspell": _guarded(0.1, 0.3, 0.3, 0.005),
                                       "identity": _guarded(0.0, 0.0, 0.0, 0.0)}}
    (run / "metrics.json").write_text(json.dumps({"benchmarks": benches}))
    return run


def _report(root: Path, models: dict[str, list[tuple[float, float, bool]]]) -> Path:
    """reports/<run>/report.json: per model, one copy-mode host unit with (e2e ms, dict ms, needed)."""
    warm = {"end_to_end_ms": 999.0, "dict_ms": 1.0, "dict_needed": False, "warmup": True}
    units = [{"device": "host", "model": m, "mode": "copy", "status": "ok",
              "reps": [{"results": [warm] + [{"end_to_end_ms": e, "dict_ms": d, "dict_needed": n}
                                             for e, d, n in rows]}]}
             for m, rows in models.items()]
    out = root / "reports" / "bench"
    out.mkdir(parents=True)
    (out / "report.json").write_text(json.dumps({"units": units, "emulated_devices": {}}))
    return out


@pytest.fixture
def inputs(tmp_path) -> Path:
    _eval_run(tmp_path, "small", 1.0)
    _eval_run(tmp_path, "big", 1.2)
    _report(tmp_path, {"small-int4": [(100, 0, False), (110, 10, True), (120, 0, False)],
                       "big-int4": [(200, 0, False), (300, 60, True), (220, 0, False)]})
    for stem, size in (("small-int4", 3), ("big-int4", 5)):
        (tmp_path / f"{stem}.pte").write_bytes(b"\0" * size * bakeoff.MiB)
    cfg = tmp_path / "bakeoff.yaml"
    legs = [{"label": lab, "eval_run": str(tmp_path / "runs/eval" / run),
             "pte": str(tmp_path / f"{run}-int4.pte"), "report": str(tmp_path / "reports/bench"),
             "cpu_hours": h}
            for lab, run, h in (("Small", "small", 4.0), ("Big", "big", 4.5))]
    extra = tmp_path / "runs" / "eval" / "big-jfleg"
    extra.mkdir(parents=True)
    (extra / "metrics.json").write_text(json.dumps({"benchmarks": {"jfleg": {"backends": {
        "hf": _guarded(0.5, 0.8, 0.7, 0.001)}}}}))
    legs[1]["eval_run"] += f", {extra}"
    cfg.write_text(json.dumps({"out": str(tmp_path / "out"), "legs": legs}))
    return cfg


def test_table_puts_every_leg_and_its_pass_beside_the_baselines(inputs, tmp_path):
    assert bakeoff.main(["--config", str(inputs)]) == 0
    result = json.loads((tmp_path / "out" / "bakeoff.json").read_text())
    msgs = result["quality"]["messages"]
    assert list(msgs) == ["Small", "Small + dict", "symspell", "Big", "Big + dict"]  # no pyspellchecker run
    assert "identity" not in msgs and msgs["Big + dict"]["exact"] == pytest.approx(0.62 * 1.2)
    assert set(result["quality"]) == {"messages", "neuspell-bea4660", "jfleg"}  # Big's second run
    assert "Small" not in result["quality"]["jfleg"] and result["quality"]["jfleg"]["Big"]["exact"] == 0.5
    big = result["legs"][1]
    assert big["pte_mib"] == pytest.approx(5.0) and big["cpu_hours"] == 4.5
    # e2e p50 of (200, 300, 220) = 220; without the pass (200, 240, 220) -> 220: the warm-up is left out
    assert big["latency"]["e2e_p50_ms"] == 220 and big["latency"]["dict_added"] == pytest.approx(0.0)
    assert big["latency"]["dict_needed_share"] == pytest.approx(1 / 3)
    small = result["legs"][0]["latency"]  # (100, 110, 120) against (100, 100, 120): +10 %
    assert small["dict_added"] == pytest.approx(0.1)
    md = (tmp_path / "out" / "bakeoff.md").read_text()
    assert "| Big + dict | 0.744 | 0.820 | 90.0 % | 0.2 % |" in md and "10.0 %" in md
    assert (tmp_path / "out" / "bakeoff.png").stat().st_size > 1000


def test_missing_inputs_are_named(inputs, tmp_path):
    cfg = json.loads(inputs.read_text())
    cfg["legs"][1]["eval_run"] = f"{tmp_path}/runs/eval/big,{tmp_path}/runs/eval/nope"
    inputs.write_text(json.dumps(cfg))
    with pytest.raises(bakeoff.BakeoffError, match="runs/eval/nope/metrics.json not found"):
        bakeoff.build(bakeoff.load_config(bakeoff.BakeoffConfig, inputs))
    cfg["legs"][1]["eval_run"], cfg["legs"][1]["mode"] = str(tmp_path / "runs/eval/big"), "plain"
    inputs.write_text(json.dumps(cfg))
    with pytest.raises(bakeoff.BakeoffError, match=r"no unit \(host, big-int4, plain\)"):
        bakeoff.build(bakeoff.load_config(bakeoff.BakeoffConfig, inputs))
    assert bakeoff.main(["--config", str(inputs), "legs=[]"]) == 2
