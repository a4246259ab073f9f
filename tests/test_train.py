"""Training stage, fast tier: configs, dataset errors, packing, isolation, loss."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.config import ConfigError, load_config
from train.batches import PairsFileError, encode_pairs, load_pairs
from train.config import TrainConfig
from train.loss import linear_ce_sum, per_sample_losses
from train.packing import IGNORE, collate_packed, collate_padded, epoch_order, make_plan, pack_plan
from train.train import main

REPO = Path(__file__).resolve().parents[1]
PRESETS = ["tiny", "smollm2-135m", "qwen3-0.6b", "gemma"]


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_load_and_name_their_command(preset):
    path = REPO / f"train/configs/{preset}.yaml"
    cfg = load_config(TrainConfig, path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("#") and f"train/configs/{preset}.yaml" in first
    assert cfg.model.full_finetune == (preset == "tiny")


def test_unknown_key_and_wrong_type_are_named():
    with pytest.raises(ConfigError, match="unknown key optim.lrr"):
        load_config(TrainConfig, REPO / "train/configs/tiny.yaml", ["optim.lrr=1e-3"])
    with pytest.raises(ConfigError, match="train.batch_tokens: expected an integer"):
        load_config(TrainConfig, REPO / "train/configs/tiny.yaml", ["train.batch_tokens=lots"])
    with pytest.raises(ConfigError, match="row_tokens"):
        load_config(TrainConfig, None, ["data.max_length=512", "data.row_tokens=256"])


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_dataset_errors_name_file_and_line(tmp_path):
    with pytest.raises(PairsFileError, match="dataset not found.*make data"):
        load_pairs(tmp_path / "nope.json")
    with pytest.raises(PairsFileError, match="empty"):
        load_pairs(_write(tmp_path / "empty.json", ["", "  "]))
    good = json.dumps({"input": "teh cat", "output": "The cat."})
    with pytest.raises(PairsFileError, match=r"bad.json:2: not valid JSON"):
        load_pairs(_write(tmp_path / "bad.json", [good, "{oops"]))
    with pytest.raises(PairsFileError, match=r"typ.json:1: field 'output' must be a string"):
        load_pairs(_write(tmp_path / "typ.json", [json.dumps({"input": "a", "output": 3})]))
    assert load_pairs(_write(tmp_path / "ok.json", [good, good]), limit=1) == [
        {"input": "teh cat", "output": "The cat."}]


def test_cli_reports_bad_config_and_offline_hub(tmp_path, capsys):
    assert main(["--config", str(REPO / "train/configs/tiny.yaml"), "lora.rank=4"]) == 2
    assert "unknown key lora.rank" in capsys.readouterr().err
    data = _write(tmp_path / "d.json", [json.dumps({"input": "teh cat", "output": "The cat."})])
    rc = main(["--config", str(REPO / "train/configs/smollm2-135m.yaml"), f"data.train={data}",
               f"data.eval={data}", f"output.root={tmp_path / 'runs'}", "output.link=", "train.device=cpu",
               "model.offline_base="])  # no offline fallback: the Hub error itself
    err = capsys.readouterr().err
    assert rc == 2 and "HuggingFaceTB/SmolLM2-135M-Instruct" in err and "PRESET=tiny" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_asked_but_absent(tmp_path, capsys):
    data = _write(tmp_path / "d.json", [json.dumps({"input": "teh cat", "output": "The cat."})])
    rc = main(["--config", str(REPO / "train/configs/tiny.yaml"), f"data.train={data}", f"data.eval={data}",
               f"output.root={tmp_path / 'runs'}", "output.link=", "train.device=cuda"])
    assert rc == 2 and "no CUDA GPU" in capsys.readouterr().err


def test_pack_plan_covers_every_sample_once_within_rows():
    lengths = [5, 17, 3, 30, 9, 12, 1, 30, 8]
    order = epoch_order(len(lengths), seed=3, epoch=1)
    assert order == epoch_order(len(lengths), seed=3, epoch=1) != epoch_order(len(lengths), seed=3, epoch=2)
    plan = pack_plan(lengths, order, row_tokens=32, rows_per_batch=2)
    rows = [row for batch in plan for row in batch]
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 32 for row in rows)
    assert all(len(batch) <= 2 for batch in plan)


def test_targets_are_shifted_answer_tokens_only():
    from train.batches import Example

    ex = [Example([10, 11, 12, 13, 14], 3), Example([20, 21, 22], 1)]
    b = collate_packed(ex, [[0, 1]], n_rows=1, row_tokens=10, pad_id=0)
    assert b["input_ids"][0].tolist() == [10, 11, 12, 13, 14, 20, 21, 22, 0, 0]
    assert b["position_ids"][0].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 0, 1]
    # prompt token 11 predicts answer token 13 ... the last token of a sample predicts nothing
    assert b["targets"][0].tolist() == [IGNORE, IGNORE, 13, 14, IGNORE, 21, 22, IGNORE, IGNORE, IGNORE]
    assert b["n_real"] == 8
    p = collate_padded(ex, [1, 0], pad_id=0)
    assert p["targets"].tolist() == [[21, 22] + [IGNORE] * 3, [IGNORE, IGNORE, 13, 14, IGNORE]]


@pytest.fixture(scope="module")
def tiny_model_and_examples(tiny_base):
    from transformers import AutoModelForCausalLM

    from core.loading import load_tokenizer

    tok = load_tokenizer(str(tiny_base))
    pairs = [{"input": f"teh {w} sat on teh mat nr {i}", "output": f"The {w} sat on the mat nr {i}."}
             for i, w in enumerate(["cat", "dog", "cow", "owl", "bee", "ant"])]
    examples, dropped = encode_pairs(tok, pairs, max_length=256)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, attn_implementation="sdpa").eval()
    return model, tok, examples


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_unpacked_per_sample_loss(tiny_model_and_examples, attn):
    """The isolation proof: every sample's loss inside a packed row equals its loss alone."""
    model, tok, ex = tiny_model_and_examples
    model.config._attn_implementation = attn
    packed = collate_packed(ex, [[0, 1, 2], [3, 4, 5]], n_rows=2, row_tokens=sum(map(len, ex[:3])) + 7,
                            pad_id=tok.pad_token_id)
    got = per_sample_losses(model, packed)
    for i in range(len(ex)):
        alone = per_sample_losses(model, collate_padded(ex, [i], pad_id=tok.pad_token_id))[i]
        assert got[i] == pytest.approx(alone, rel=1e-4), (attn, i)
    # Negative control: without the position restart the samples see each other.
    leaky = dict(packed,
                 position_ids=torch.arange(packed["input_ids"].shape[1]).expand_as(packed["input_ids"]))
    bad = per_sample_losses(model, leaky)
    assert abs(bad[1] - got[1]) > 1e-3


def test_bucketed_plan_and_padded_batch_match_packed_losses(tiny_model_and_examples):
    model, tok, ex = tiny_model_and_examples
    model.config._attn_implementation = "sdpa"
    plan = make_plan(ex, seed=0, epoch=0, packing=False, row_tokens=512, batch_tokens=400)
    assert sorted(i for b in plan for i in b[0]) == list(range(len(ex)))
    padded = {}
    for b in plan:
        padded.update(per_sample_losses(model, collate_padded(ex, b[0], pad_id=tok.pad_token_id)))
    packed = per_sample_losses(model, collate_packed(ex, [list(range(len(ex)))], 1, 512, tok.pad_token_id))
    assert padded == pytest.approx(packed, rel=1e-4)


@pytest.mark.parametrize("softcap", [0.0, 30.0])
@pytest.mark.parametrize("weight_grad", [False, True])
def test_chunked_linear_ce_matches_cross_entropy(softcap, weight_grad):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(37, 16, generator=g, requires_grad=True)
    w = torch.randn(50, 16, generator=g).requires_grad_(weight_grad)
    t = torch.randint(0, 50, (37,), generator=g)
    got = linear_ce_sum(h, w, t, chunk=8, softcap=softcap)
    (got * 0.5).backward()
    h2, w2 = h.detach().clone().requires_grad_(), w.detach().clone().requires_grad_(weight_grad)
    logits = h2 @ w2.T
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    ref = torch.nn.functional.cross_entropy(logits, t, reduction="sum")
    (ref * 0.5).backward()
    assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-4, atol=1e-5)
    if weight_grad:
        torch.testing.assert_close(w.grad, w2.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("softcap", [0.0, 30.0])
def test_chunked_linear_ce_in_bf16_reuses_its_workspace(softcap):
    """bf16 states (training under autocast): the reused low-precision buffer holds the raw logits,
    the softcap derivative and the gradient in turn; a second call with other values must not see
    the first call's leftovers."""
    from train import loss as loss_mod

    g = torch.Generator().manual_seed(2)
    w = (torch.randn(300, 32, generator=g) * 0.3).bfloat16()
    for _ in range(2):
        h = torch.randn(45, 32, generator=g).bfloat16().requires_grad_()
        t = torch.randint(0, 300, (45,), generator=g)
        got = linear_ce_sum(h, w, t, chunk=16, softcap=softcap)
        got.backward()
        h2 = h.detach().float().requires_grad_()
        logits = h2 @ w.float().T
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        ref = torch.nn.functional.cross_entropy(logits, t, reduction="sum")
        ref.backward()
        assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=2e-3)
        torch.testing.assert_close(h.grad.float(), h2.grad, rtol=2e-2, atol=2e-2)
    assert len(loss_mod._WORKSPACE) == 1


def test_bad_dataset_leaves_no_model_link(tmp_path, capsys):
    good = json.dumps({"input": "teh cat", "output": "The cat."})
    data = _write(tmp_path / "d.json", [good])
    bad = _write(tmp_path / "e.json", [good, '{"input": "x"}'])
    link = tmp_path / "models" / "checkpoint"
    rc = main(["--config", str(REPO / "train/configs/tiny.yaml"), f"data.train={data}", f"data.eval={bad}",
               f"output.root={tmp_path / 'runs'}", f"output.link={link}"])
    assert rc == 2 and "e.json:2: field 'output' must be a string" in capsys.readouterr().err
    assert not link.exists() and not link.is_symlink()


def test_out_of_memory_says_what_to_change(tmp_path, capsys, monkeypatch, tiny_base):
    """A real torch.OutOfMemoryError raised from the training step becomes a clear message."""
    from train import loop

    def oom(self):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(loop.Trainer, "step", oom)
    data = _write(tmp_path / "d.json", [json.dumps({"input": "teh cat", "output": "The cat."})])
    rc = main(["--config", str(REPO / "train/configs/tiny.yaml"), f"data.train={data}", f"data.eval={data}",
               f"output.root={tmp_path / 'runs'}", "output.link=", f"model.base={tiny_base}"])
    err = capsys.readouterr().err
    assert rc == 2 and "out of memory" in err and "train.batch_tokens" in err
    assert "gradient_checkpointing" in err


def test_shared_prefix_batches_equal_full_samples(tiny_model_and_examples):
    """Prefix computed once per batch, samples attending to its cache: same losses."""
    from train.prefix import collate_prefixed, common_prefix

    model, tok, ex = tiny_model_and_examples
    model.config._attn_implementation = "sdpa"
    p = common_prefix(ex)
    assert 10 < p < min(e.n_prompt for e in ex)
    got = per_sample_losses(model, collate_prefixed(ex, [2, 0, 5, 1], p, tok.pad_token_id))
    alone = per_sample_losses(model, collate_padded(ex, [2, 0, 5, 1], pad_id=tok.pad_token_id))
    assert got == pytest.approx(alone, rel=1e-4)
    # gradients too: the prefix's share of the gradient flows back through the cache
    from train.loss import loss_sum

    grads = []
    for batch in (collate_prefixed(ex, [0, 3], p, tok.pad_token_id),
                  collate_padded(ex, [0, 3], pad_id=tok.pad_token_id)):
        model.zero_grad()
        loss, n = loss_sum(model, batch)
        (loss / n).backward()
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-3, atol=1e-6)
    model.zero_grad()


@pytest.mark.skipif(__import__("importlib").util.find_spec("wandb") is not None,
                    reason="wandb is installed here")
def test_tracker_switch_without_package_is_a_clear_error(tmp_path, capsys, tiny_base):
    data = _write(tmp_path / "d.json", [json.dumps({"input": "teh cat", "output": "The cat."})])
    rc = main(["--config", str(REPO / "train/configs/tiny.yaml"), f"data.train={data}", f"data.eval={data}",
               f"output.root={tmp_path / 'runs'}", "output.link=", f"model.base={tiny_base}",
               "output.wandb=true"])
    assert rc == 2 and "pip install wandb" in capsys.readouterr().err


def test_shape_padding_changes_no_loss_or_gradient(tiny_model_and_examples):
    """data.shape_multiple: batch widths and LM-head rows rounded up (few distinct CPU kernel
    shapes) with masked positions and IGNORE rows: the same losses, counts and gradients."""
    from train.loss import loss_sum
    from train.prefix import collate_prefixed, common_prefix

    model, tok, ex = tiny_model_and_examples
    model.config._attn_implementation = "sdpa"
    p = common_prefix(ex)
    results = []
    for batch, multiple in ((collate_prefixed(ex, [0, 3, 4], p, tok.pad_token_id), 1),
                            (collate_prefixed(ex, [0, 3, 4], p, tok.pad_token_id, multiple=16), 16),
                            (collate_padded(ex, [0, 3, 4], pad_id=tok.pad_token_id, multiple=16), 16)):
        if multiple > 1:
            assert batch["input_ids"].shape[1] % 16 == 0
        model.zero_grad()
        loss, n = loss_sum(model, batch, multiple=multiple)
        (loss / n).backward()
        results.append((float(loss.detach()), n, model.model.layers[0].mlp.down_proj.weight.grad.clone()))
    model.zero_grad()
    (loss0, n0, g0) = results[0]
    assert n0 % 16 != 0  # the unpadded count: padding really happened below
    for loss, n, g in results[1:]:
        assert n == n0 and loss == pytest.approx(loss0, rel=1e-4)
        torch.testing.assert_close(g, g0, rtol=1e-3, atol=1e-6)


def test_chunked_linear_ce_ignores_padding_rows():
    from train.loss import pad_rows

    g = torch.Generator().manual_seed(1)
    h = torch.randn(21, 16, generator=g, requires_grad=True)
    w = torch.randn(50, 16, generator=g, requires_grad=True)
    t = torch.randint(0, 50, (21,), generator=g)
    hp, tp = pad_rows(h, t, 16)
    assert hp.shape[0] == 32 and (tp[21:] == IGNORE).all()
    got = linear_ce_sum(hp, w, tp, chunk=8)
    got.backward()
    h2, w2 = h.detach().clone().requires_grad_(), w.detach().clone().requires_grad_()
    ref = torch.nn.functional.cross_entropy(h2 @ w2.T, t, reduction="sum")
    ref.backward()
    assert float(got.detach()) == pytest.approx(float(ref.detach()), rel=1e-5)
    torch.testing.assert_close(h.grad, h2.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(w.grad, w2.grad, rtol=1e-4, atol=1e-5)
