"""fp16 training with loss scaling (train.precision=fp16, or auto on a GPU without bf16).

Everything here runs on the CPU: torch's CPU autocast has fp16 and torch.amp.GradScaler
works on CPU tensors, so the scaler logic (scale, unscale before clipping, skip on
overflow, back-off, resume) is the real one. What a CPU cannot show is fp16 *speed* on a
T4; that comparison is a GPU check (tests/test_train_gpu.py territory)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.config import ConfigError, load_config
from core.errors import TrainError
from tests.fixtures.train import tiny_train_config
from train import checkpoint
from train.config import TrainConfig
from train.model import resolve_precision

REPO = Path(__file__).resolve().parents[1]
SMALL = ["data.max_train_samples=160", "data.max_eval_samples=8", "eval.samples=2", "eval.every=0",
         "eval.max_new_tokens=8", "train.batch_tokens=1024", "optim.warmup_steps=2", "train.device=cpu"]


@pytest.mark.parametrize(("precision", "device", "bf16", "want"), [
    ("auto", "cuda", True, "bf16"),    # A100, H100, 3090, 4090, A10
    ("auto", "cuda", False, "fp16"),   # T4, V100: fp16 + GradScaler, not fp32
    ("auto", "cpu", False, "fp32"),
    ("fp16", "cpu", False, "fp16"),    # allowed: how these tests run the scaler
    ("fp16", "cuda", True, "fp16"),
    ("fp32", "cuda", True, "fp32"),
    ("bf16", "cpu", False, "bf16"),    # CPU bf16 autocast (bench.bench_cpu_lora)
])
def test_precision_resolution(precision, device, bf16, want):
    assert resolve_precision(precision, device, bf16) == want


def test_bf16_on_a_gpu_without_it_names_fp16():
    with pytest.raises(TrainError, match="precision=fp16"):
        resolve_precision("bf16", "cuda", False)


def test_config_accepts_fp16_and_rejects_others():
    assert load_config(TrainConfig, None, ["train.precision=fp16"]).train.precision == "fp16"
    with pytest.raises(ConfigError, match="train.precision"):
        load_config(TrainConfig, None, ["train.precision=fp8"])


def _trainer(tmp_path: Path, tiny_pairs, tiny_base, *extra: str):
    from train.loop import Trainer

    cfg = tiny_train_config(tiny_pairs, tmp_path, tiny_base, *SMALL, *extra)
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    dist = {"world": 1, "rank": 0, "local_rank": 0}
    return Trainer(cfg, run_dir, dist, tiny_pairs / "train_data.json", tiny_pairs / "eval_data.json")


def _poison_next_forward(trainer) -> None:
    """Make the next micro-batch's activations infinite: its gradients overflow the way an fp16
    step does when the loss scale is too high (a real overflow, not a stubbed scaler)."""
    layer = trainer.model.get_decoder().layers[0]

    def hook(_mod, _inp, out):
        handle.remove()
        hidden = out[0] if isinstance(out, tuple) else out
        hidden = hidden * float("inf")
        return (hidden, *out[1:]) if isinstance(out, tuple) else hidden

    handle = layer.register_forward_hook(hook)


def _params(trainer) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


def test_fp16_overflow_skips_the_step_backs_off_and_counts(tmp_path, tiny_pairs, tiny_base):
    tr = _trainer(tmp_path, tiny_pairs, tiny_base, "train.precision=fp16", "train.max_steps=4")
    assert tr.dtype == torch.float16 and tr.scaler.is_enabled()
    assert tr.scaler.get_scale() == 65536.0
    _, _, _, applied = tr.train_step()  # settle: an early step may overflow on its own at 2^16
    scale, before = tr.scaler.get_scale(), _params(tr)
    skipped = tr.pos.skipped
    _poison_next_forward(tr)
    loss, n_tok, norm, applied = tr.train_step()
    assert not applied and n_tok > 0
    assert tr.pos.skipped == skipped + 1
    assert tr.scaler.get_scale() == scale * 0.5  # backoff_factor
    after = _params(tr)
    assert all(torch.equal(before[n], after[n]) for n in before)  # the optimizer did not move
    scale = tr.scaler.get_scale()
    for _ in range(3):  # with the poison gone, steps apply again (the scale may still back off)
        _, _, norm, applied = tr.train_step()
        if applied:
            break
    assert applied and norm == norm and norm < float("inf")
    assert any(not torch.equal(before[n], p) for n, p in _params(tr).items())


def test_fp32_non_finite_step_is_skipped_too(tmp_path, tiny_pairs, tiny_base):
    tr = _trainer(tmp_path, tiny_pairs, tiny_base, "train.precision=fp32", "train.max_steps=4")
    assert not tr.scaler.is_enabled()
    before = _params(tr)
    _poison_next_forward(tr)
    _, _, norm, applied = tr.train_step()
    assert not applied and tr.pos.skipped == 1 and not (norm < float("inf"))
    assert all(torch.equal(before[n], p) for n, p in _params(tr).items())
    _, _, _, applied = tr.train_step()
    assert applied and tr.pos.skipped == 1


def test_fp16_run_logs_the_scale_and_resumes_it(tmp_path, tiny_pairs, tiny_base):
    """A short fp16 run end to end: finite losses, log.jsonl carries loss_scale and skipped_steps,
    the checkpoint stores the scaler as plain numbers, and a resumed run gets the scale back."""
    from train.train import train

    cfg = tiny_train_config(tiny_pairs, tmp_path, tiny_base, *SMALL, "train.precision=fp16",
                            "train.max_steps=6", "checkpoint.every=3", "run_name=fp16")
    run_dir = train(cfg)
    recs = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    steps = [r for r in recs if "loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 7))
    assert all("loss_scale" in r and "skipped_steps" in r and "grad_norm" in r for r in steps)
    applied = [r for r in steps if r["loss"] == r["loss"]]
    assert applied and all(r["loss"] < 50 for r in applied)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["dtype"] == "float16" and summary["skipped_steps"] == steps[-1]["skipped_steps"]

    last = checkpoint.list_checkpoints(run_dir / "checkpoints")[-1]
    state = checkpoint.read_state(last / "state.pt")  # weights_only=True: the scaler adds plain numbers
    scaler_state = state["scaler"]
    assert "scale" in scaler_state and all(isinstance(v, (int, float)) for v in scaler_state.values())
    assert scaler_state["scale"] == steps[-1]["loss_scale"]
    assert state["progress"]["skipped"] == steps[-1]["skipped_steps"]

    # a fresh trainer on the same run dir resumes the scale, not 2^16 again
    tr = _trainer(tmp_path, tiny_pairs, tiny_base, "train.precision=fp16", "train.max_steps=8")
    tr.run_dir = run_dir
    tr.log_path = run_dir / "log.jsonl"
    tr.resume()
    assert tr.pos.step == 6 and tr.scaler.get_scale() == scaler_state["scale"]
    assert tr.pos.skipped == steps[-1]["skipped_steps"]


def test_old_checkpoint_without_scaler_or_skipped_still_loads():
    pos = checkpoint.Position.from_dict({"step": 3, "epoch": 0, "index": 3, "tokens": 10, "seconds": 1.0})
    assert pos.skipped == 0 and pos.step == 3
