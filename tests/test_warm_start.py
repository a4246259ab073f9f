"""LoRA warm start (`lora.init_from`): a run goes on training an existing adapter (the released
one, or any PEFT LoRA folder) with a fresh optimizer and schedule, instead of a zero adapter."""
from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file

from core.config import ConfigError
from core.loading import ModelLoadError
from tests.fixtures.train import tiny_train_config
from tests.test_adapter import _plain_peft_adapter, _set_recorded_base

LORA = ["model.full_finetune=false", "lora.r=4", "lora.alpha=8",
        "lora.target_modules=[q_proj,v_proj,down_proj]"]


@pytest.fixture(scope="module")
def adapter(tiny_base, tmp_path_factory):
    return _plain_peft_adapter(tiny_base, tmp_path_factory.mktemp("warm") / "typo-lora", seed=3)


def _cfg(tiny_pairs, tiny_base, root, *extra):
    return tiny_train_config(tiny_pairs, root, tiny_base, *LORA, "train.max_steps=1", "checkpoint.every=1",
                             "eval.every=0", "eval.samples=2", "optim.warmup_steps=0", *extra)


def _lora(folder):
    return {k: v for k, v in load_file(folder / "adapter_model.safetensors").items() if "lora_" in k}


def test_warm_start_starts_from_the_adapter(adapter, tiny_base, tiny_pairs, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from train.model import build

    cfg = _cfg(tiny_pairs, tiny_base, tmp_path, f"lora.init_from={adapter}")
    model = build(cfg, torch.device("cpu"), torch.float32).eval()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    ids = torch.randint(5, 2000, (2, 12))
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    with torch.no_grad():
        want = PeftModel.from_pretrained(base, str(adapter)).eval()(input_ids=ids).logits
        got = model(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-5)


def test_warm_run_saves_the_adapter_it_went_on_training(adapter, tiny_base, tiny_pairs, tmp_path):
    """One step at a tiny learning rate: the saved adapter is the one it started from (nearly),
    and a cold run's is not (its B matrices start at zero)."""
    from train.train import train

    start = _lora(adapter)
    # the first leg ran on another base (the full vocabulary before a trim): the new leg's adapter
    # must record the base it was trained on, as a cold run's does, or later stages merge it wrongly
    elsewhere = _set_recorded_base(adapter, "/elsewhere/first-leg-base", tmp_path / "first-leg")
    warm = train(_cfg(tiny_pairs, tiny_base, tmp_path, "run_name=warm", f"lora.init_from={elsewhere}",
                      "optim.lr=1e-7"))
    cold = train(_cfg(tiny_pairs, tiny_base, tmp_path, "run_name=cold", "optim.lr=1e-7"))
    saved, fresh = _lora(warm / "adapter"), _lora(cold / "adapter")
    assert saved.keys() == start.keys()
    assert all(torch.allclose(saved[k].float(), start[k].float(), atol=1e-4) for k in start)
    assert not all(torch.allclose(fresh[k].float(), start[k].float(), atol=1e-2) for k in start)
    assert yaml.safe_load((warm / "config.yaml").read_text())["lora"]["init_from"] == str(elsewhere)
    recorded = [json.loads((run / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"]
                for run in (warm, cold)]
    assert recorded[0] == recorded[1] and "elsewhere" not in recorded[0]


def test_warm_start_with_other_lora_settings_is_refused(adapter, tiny_base, tiny_pairs, tmp_path):
    from core.errors import TrainError
    from train.model import build

    cfg = _cfg(tiny_pairs, tiny_base, tmp_path, f"lora.init_from={adapter}", "lora.r=8")
    with pytest.raises(TrainError, match=r"lora\.r: config 8, adapter 4"):
        build(cfg, torch.device("cpu"), torch.float32)


def test_warm_start_from_a_folder_that_is_no_adapter(tiny_base, tiny_pairs, tmp_path):
    from train.model import build

    cfg = _cfg(tiny_pairs, tiny_base, tmp_path, f"lora.init_from={tmp_path}")
    with pytest.raises(ModelLoadError, match="no adapter_config.json"):
        build(cfg, torch.device("cpu"), torch.float32)


def test_warm_start_is_lora_only(adapter, tiny_base, tiny_pairs, tmp_path):
    from train.model import build

    cfg = _cfg(tiny_pairs, tiny_base, tmp_path, f"lora.init_from={adapter}", "model.full_finetune=true")
    with pytest.raises(ConfigError, match="lora.init_from"):
        build(cfg, torch.device("cpu"), torch.float32)


def test_snapshot_of_a_checkpoint_is_the_adapter_the_run_saves(tiny_base, tiny_pairs, tmp_path):
    """train.snapshot: the adapter at a checkpoint; at the last step it is the run's own adapter/."""
    from core.errors import OverwriteError, TrainError
    from core.paths import MARKER
    from train.snapshot import main as snapshot_main
    from train.snapshot import snapshot
    from train.train import train

    run = train(_cfg(tiny_pairs, tiny_base, tmp_path, "run_name=snap", "train.max_steps=2", "optim.lr=1e-2"))
    last = snapshot(run, None, None)
    assert last == run / "snapshots" / "step-00000002"
    final, snap = _lora(run / "adapter"), _lora(last)
    assert snap.keys() == final.keys()
    assert all(torch.equal(snap[k], final[k]) for k in final)
    assert (last / "tokenizer_config.json").is_file()
    first = _lora(snapshot(run, 1, tmp_path / "step1"))
    assert not all(torch.equal(first[k], final[k]) for k in final)
    with pytest.raises(TrainError, match=r"no checkpoint at step 7 \(have: 1, 2\)"):
        snapshot(run, 7, None)
    assert snapshot_main([str(tmp_path / "nowhere")]) == 2
    # its own snapshot is replaced; one holding a file it did not write is not (the file stays)
    marker = json.loads((last / MARKER).read_text())
    assert marker["writer"] == "train.snapshot" and "adapter_model.safetensors" in marker["files"]
    assert snapshot(run, 1, last) == last and _lora(last).keys() == first.keys()
    (last / "notes.txt").write_text("mine")
    with pytest.raises(OverwriteError, match=r"notes\.txt in it were not written by train\.snapshot"):
        snapshot(run, None, last)
    assert (last / "notes.txt").read_text() == "mine"
