"""bench.learning_curve on a real tiny LoRA run: each checkpoint is taken out, merged and
scored by the real evaluation; the curve resumes and is plotted."""
from __future__ import annotations

import json

import pytest

from bench.learning_curve import checkpoint_steps, main, train_seconds
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

