"""Export speed-ups must not change what is exported: the lean XNNPACK pass list gives the
same program bytes, and recipes exported in parallel processes give the same files as one
after the other."""
from __future__ import annotations

import json

import pytest
import torch

from export import parallel
from export.lean_passes import NEEDED, needed_passes
from tests.fixtures.export import TEST_MAX_SEQ_LEN


def _unlean_bytes(model_dir, recipe: str) -> bytes:
    """What export_model writes, lowered with XNNPACK's full pass list."""
    from executorch.backends.xnnpack import xnnpack_preprocess

    from core.loading import load_tokenizer
    from core.prompt import eos_ids
    from export import attention, lower
    from export.recipes import get_recipe
    from export.source import load_source_model, resolve_source

    model = load_source_model(resolve_source(model_dir))
    vocab = int(model.get_output_embeddings().out_features)
    prepare, reinplace, _ = attention.resolve(get_recipe(recipe), model, "auto")  # as export_model does
    wrapper = prepare(model, TEST_MAX_SEQ_LEN)
    get_recipe(recipe).quantize(wrapper, 32)
    program = lower.export_program(wrapper, TEST_MAX_SEQ_LEN)
    consts = {"get_max_seq_len": TEST_MAX_SEQ_LEN, "get_eos_ids": eos_ids(load_tokenizer(str(model_dir))),
              "get_vocab_size": vocab}
    original = xnnpack_preprocess.XNNPACKPassManager
    edge, skipped = lower.lower(program, consts, lean=False)
    assert skipped == [] and xnnpack_preprocess.XNNPACKPassManager is original
    return lower.to_bytes(edge, reinplace=reinplace)


@pytest.mark.integration
def test_lean_passes_give_the_same_program(tiny_pte, tiny_model_dir):
    """The session's int8 file (exported lean) equals a full-pass-list lowering, byte for byte."""
    meta = json.loads(tiny_pte["int8"].with_suffix(".json").read_text())
    # the skip really happened (an executorch upgrade that renames the passes shows up here)
    assert {"ConvertToUpsampleBilinear2d", "FuseBatchNormPass", "Conv1dUnsqueezePass"} <= \
        set(meta["skipped_xnnpack_passes"])
    assert tiny_pte["int8"].read_bytes() == _unlean_bytes(tiny_model_dir, "xnnpack-int8")


def _graph(module: torch.nn.Module, *args) -> torch.fx.GraphModule:
    return torch.export.export(module, args).run_decompositions().graph_module  # as preprocess sees it


def test_a_pass_whose_ops_are_present_is_kept():
    from executorch.backends.xnnpack._passes import XNNPACKPassManager

    every = XNNPACKPassManager.__new__(XNNPACKPassManager)
    XNNPACKPassManager.__init__(every, None)
    conv = _graph(torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3), torch.nn.BatchNorm1d(2)).eval(),
                  torch.zeros(1, 2, 8))
    kept = {p.__name__ for p in needed_passes(every.passes, conv)}
    assert {"Conv1dUnsqueezePass", "FuseBatchNormPass", "DecomposeBatchNorm"} <= kept
    assert "PReLUReshapePass" not in kept
    lin = _graph(torch.nn.Linear(4, 4), torch.zeros(1, 4))
    kept = {p.__name__ for p in needed_passes(every.passes, lin)}
    assert kept == {p.__name__ for p in every.passes} - set(NEEDED)  # unlisted passes always run


def test_jobs_are_capped_by_recipes_cores_and_memory():
    gib = 2**30
    assert parallel.auto_jobs(2, gib, cpus=2, free=64 * gib) == 2
    assert parallel.auto_jobs(3, gib, cpus=2, free=64 * gib) == 2  # cores
    assert parallel.auto_jobs(2, gib, cpus=16, free=15 * gib) == 1  # memory: 10 GiB per process
    assert parallel.auto_jobs(1, gib, cpus=16, free=64 * gib) == 1
    assert parallel.auto_jobs(2, 0, cpus=16, free=64 * gib) == 1  # unknown size: one at a time


def test_fp32_size_is_read_from_the_safetensors_headers(tiny_base):
    from core.loading import load_model

    n_params = sum(p.numel() for p in load_model(str(tiny_base)).parameters())  # tied counted once
    assert parallel.fp32_bytes(tiny_base) == 4 * n_params
    assert parallel.fp32_bytes(tiny_base / "missing") == 0


@pytest.mark.integration
def test_parallel_export_writes_the_same_files(tiny_pte, tiny_model_dir, tmp_path):
    """Two recipes in two processes give the files the session exported one by one."""
    from core.config import load_config
    from export.config import ExportConfig
    from export.export_to_pte import DEFAULT_CONFIG, export_all

    cfg = load_config(ExportConfig, DEFAULT_CONFIG, [
        f"model={tiny_model_dir}", f"out_dir={tmp_path}", f"max_seq_len={TEST_MAX_SEQ_LEN}", "jobs=2",
        "eval_data=", "recipes=[xnnpack-fp32,xnnpack-int4]", "name=tiny"])
    metas = export_all(cfg)
    assert [m["recipe"] for m in metas] == ["xnnpack-fp32", "xnnpack-int4"]
    for tag in ("fp32", "int4"):
        assert (tmp_path / f"tiny-{tag}.pte").read_bytes() == tiny_pte[tag].read_bytes()
        assert (tmp_path / f"tiny-{tag}.json").is_file()
    tokenizer = tiny_pte["fp32"].parent / "tokenizer.json"
    assert (tmp_path / "tokenizer.json").read_bytes() == tokenizer.read_bytes()
