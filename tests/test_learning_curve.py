"""bench.learning_curve on a real tiny LoRA run: each checkpoint is taken out, merged and
scored by the real evaluation; the curve resumes and is plotted."""
from __future__ import annotations

import json

import pytest

from bench import learning_curve
from bench.learning_curve import checkpoint_steps, main, train_seconds
from core.errors import PipelineError
from core.paths import REPO_ROOT as REPO
from tests.fixtures.train import tiny_train_config

pytestmark = pytest.mark.integration


def test_curve_scores_each_checkpoint_and_resumes(tiny_pairs, tiny_base, shared_data, tmp_path):
    from train.train import train

    cfg = tiny_train_config(tiny_pairs, tmp_path, tiny_base, "model.full_finetune=false", "lora.r=4",
                            "lora.alpha=8", "lora.target_modules=[q_proj,v_proj]", "train.max_steps=2",
                            "checkpoint.every=1", "checkpoint.keep=10", "eval.every=0", "eval.samples=2",
                            "run_name=curve")
    train(cfg)
    run = tmp_path / "train" / "curve"
    found = checkpoint_steps(run)
    assert sorted(found) == [1, 2]
    (w1, c1), (w2, c2) = train_seconds(found[1]), train_seconds(found[2])
    assert 0 < w1 <= w2 and 0 < c1 < c2  # the trainer's process CPU time grows step by step
    out = tmp_path / "curve"
    args = [str(run), "--steps", "1", "--bea-limit", "3", "--messages-limit", "3", "--threads", "1",
            "--preset-config", "train/configs/tiny.yaml", "--out", str(out)]
    assert main(args) == 0
    curve = json.loads((out / "curve.json").read_text())
    assert [r["step"] for r in curve["steps"]] == [1]
    rec = curve["steps"][0]
    assert rec["cpu_hours"] > 0 and 0 <= rec["messages_exact"] <= 1 and 0 <= rec["bea_spelling_over"] <= 1
    assert (out / "curve.png").stat().st_size > 1000
    assert main(args[:2] + ["1,2"] + args[3:]) == 0  # step 1 kept as scored, step 2 added
    assert [r["step"] for r in json.loads((out / "curve.json").read_text())["steps"]] == [1, 2]
    assert main(args[:2] + ["7"] + args[3:]) == 2  # no such checkpoint: a clear error



def test_compare_draws_another_runs_curve_by_cpu_hours(tmp_path):
    # the released SmolLM2 adapter's real curve: three legs' scored steps as one line
    ref = learning_curve.reference_points(REPO / "release" / "smollm2-135m-typo-lora-v2" / "curve.json")
    hours = [r["cpu_hours"] for r in ref["steps"]]
    assert hours == sorted(hours) and len(hours) >= 10 and hours[-1] > 9
    curve = {"run": "mine", "steps": [{"step": 200, "cpu_hours": 0.3, "messages_exact": 0.66,
                                       "bea_spelling_correction": 0.87, "bea_spelling_over": 0.001}],
             "baselines": {}, "legs": [], "compare": [ref]}
    learning_curve.plot(curve, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 10_000
    (tmp_path / "empty.json").write_text(json.dumps({"run": "x", "steps": []}))
    with pytest.raises(PipelineError, match="no scored steps"):
        learning_curve.reference_points(tmp_path / "empty.json")
