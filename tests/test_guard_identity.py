"""bench.guard_identity: the C++ guard against evaluation/guard.py on an evaluation run's cached
raw answers. Here on a run folder laid out as `python -m evaluation` writes it, with the dev
set's first messages and raw answers that fix, keep or reword them."""
from __future__ import annotations

import json

import pytest

from bench import guard_identity
from tests.fixtures.corrector_cpp import ROOT

MESSAGES = ROOT / "evaluation" / "devsets" / "messages"


def test_every_cached_answer_is_compared(tmp_path):
    from evaluation.eval_sets import load_benchmarks

    pairs = load_benchmarks(str(MESSAGES))[0].pairs[:12]
    run = tmp_path / "run"
    (run / "outputs").mkdir(parents=True)
    (run / "config.yaml").write_text(f"benchmarks: {MESSAGES}\n")
    raw = [p.reference if i % 3 == 0 else p.input if i % 3 == 1 else "Sure, here is the corrected text."
           for i, p in enumerate(pairs)]
    (run / "outputs" / "messages__hf.jsonl").write_text(
        "".join(json.dumps({"i": i, "output": r}) + "\n" for i, r in enumerate(raw)))
    out = tmp_path / "report.json"
    assert guard_identity.main([str(run), "--out", str(out)]) == 0
    res = json.loads(out.read_text())["sets"]["messages"]
    assert res["total"] == 12 and res["identical"] == 12 and res["differences"] == []
    assert res["guard_changed"] >= 4  # the four commentary answers are refused at least


def test_a_run_without_that_backend_is_named(tmp_path):
    run = tmp_path / "run"
    (run / "outputs").mkdir(parents=True)
    (run / "config.yaml").write_text(f"benchmarks: {MESSAGES}\n")
    with pytest.raises(SystemExit, match=r"no \*__hf\.jsonl"):
        guard_identity.raw_answers(run, "hf")
