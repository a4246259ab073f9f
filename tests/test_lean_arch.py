"""The lean decoder (export/lean_attention.py) on the other architectures it re-implements:
Gemma 3 (q/k norms, sandwich norms, one RoPE per layer type, sliding-window layers) and Qwen3
(q/k norms). Tiny random models from config overrides, every weight randomised (norm weights
included, so a norm left out or applied twice shows), fp32: the lean decoder fed a prompt and
then one token at a time must give HF's eager logits for the whole sequence."""
from __future__ import annotations

import pytest
import torch

from export import lean_attention

SEQ, MAX_LEN = 20, 24


def _gemma3(window: int):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    cfg = Gemma3TextConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=16,
                           query_pre_attn_scalar=16,
                           layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                           sliding_window=window, max_position_embeddings=64, attn_implementation="eager")
    return Gemma3ForCausalLM(cfg)


def _qwen3():
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                      attn_implementation="eager")
    return Qwen3ForCausalLM(cfg)


def _randomised(model: torch.nn.Module) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model.float().eval()


def _lean_logits(model: torch.nn.Module, ids: torch.Tensor, prefill: int) -> torch.Tensor:
    lean = lean_attention.prepare_model(model, MAX_LEN).model
    out = [lean(ids[:, :prefill], torch.arange(prefill))]
    for t in range(prefill, ids.shape[1]):
        out.append(lean(ids[:, t:t + 1], torch.tensor([t])))
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("build", [lambda: _gemma3(window=6), lambda: _gemma3(window=512), _qwen3],
                         ids=["gemma3-window-6", "gemma3-window-past-cache", "qwen3"])
def test_lean_decoder_gives_eager_logits(build):
    model = _randomised(build())
    ids = torch.randint(0, model.config.vocab_size, (1, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(ids).logits
        got = _lean_logits(model, ids, prefill=7)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_a_window_shorter_than_the_cache_changes_the_answer():
    """The sliding mask is live: the same weights with a window past the cache differ."""
    short = _randomised(_gemma3(window=6))
    wide = _randomised(_gemma3(window=512))
    ids = torch.randint(0, 96, (1, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.allclose(_lean_logits(short, ids, 7)[:, 8:], _lean_logits(wide, ids, 7)[:, 8:])


def test_attention_softcapping_is_refused():
    model = _gemma3(window=6)
    model.config.attn_logit_softcapping = 50.0
    with pytest.raises(lean_attention.UnsupportedArchitectureError, match="soft-capping"):
        lean_attention.prepare_model(model, MAX_LEN)


@pytest.mark.integration
@pytest.mark.parametrize("build", [lambda: _gemma3(window=6), _qwen3], ids=["gemma3-window-6", "qwen3"])
def test_lean_pte_gives_eager_logits(build, tmp_path):
    """Through the real lowering (torch.export, XNNPACK, re-inplaced cache write) and the
    ExecuTorch runtime: the .pte fed a prompt, then one token at a time, gives eager's logits."""
    from export import lower
    from export.runtime import PteModel

    model = _randomised(build())
    ids = torch.randint(0, model.config.vocab_size, (1, SEQ), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(ids).logits
    wrapper = lean_attention.prepare_model(model, MAX_LEN)
    consts = {"get_max_seq_len": MAX_LEN, "get_eos_ids": [1]}
    edge, _ = lower.lower(lower.export_program(wrapper, MAX_LEN), consts)
    path = tmp_path / "lean.pte"
    path.write_bytes(lower.to_bytes(edge, reinplace=True))
    pte = PteModel(path)
    steps = [pte.forward(ids[:, :7], 0)] + [pte.forward(ids[:, t:t + 1], t) for t in range(7, SEQ)]
    got = torch.cat(steps, dim=1)
    # XNNPACK's tanh-GELU (Gemma's MLP) is an approximation: 1.4e-3 at most here, against 4e-6 with
    # the same model on SiLU; a wrong mask, norm or RoPE moves these logits by tenths
    torch.testing.assert_close(got, want, atol=3e-3, rtol=1e-3)
    assert torch.equal(got.argmax(-1), want.argmax(-1))
