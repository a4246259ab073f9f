"""bench/graft.py: a big-shape Llama that computes exactly what a small one computes (the
SmolLM2-shape speculation benchmark relies on it)."""
from __future__ import annotations

import pytest
import torch

from bench.graft import GraftError, big_config, check_fits, graft, head_dim_map, max_logit_gap

# Bigger than the tiny preset in every dimension, with twice its head dim (RoPE remapped),
# 3 query heads per KV head like tiny and SmolLM2-135M; small enough for the fast tier.
TARGET = dict(vocab_size=2304, hidden_size=288, intermediate_size=640, num_hidden_layers=6,
              num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=512,
              tie_word_embeddings=True)


@pytest.fixture(scope="module")
def small(tiny_base):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    with torch.no_grad():  # a random base has near-zero norms' spread: perturb so the check bites
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


def test_grafted_logits_equal_the_small_model(small):
    big = graft(small, big_config(small.config, TARGET))
    assert sum(p.numel() for p in big.parameters()) > 2 * sum(p.numel() for p in small.parameters())
    ids = torch.randint(0, small.config.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        spread = float(small(ids).logits.std())
    assert spread > 0.1
    assert max_logit_gap(small, big, ids) < 1e-4 * max(1.0, spread)


def test_a_wrong_rope_mapping_would_show(small):
    """The check is sharp: dropping the attention rescale changes the logits."""
    big = graft(small, big_config(small.config, TARGET))
    with torch.no_grad():
        for layer in big.model.layers:
            layer.self_attn.q_proj.weight /= 2 ** 0.5
    ids = torch.randint(0, small.config.vocab_size, (1, 40), generator=torch.Generator().manual_seed(2))
    assert max_logit_gap(small, big, ids) > 1e-3


def test_head_dim_map_keeps_rope_pairs():
    m = head_dim_map(32, 2).tolist()
    assert m[:3] == [0, 2, 4] and m[16:19] == [32, 34, 36] and len(set(m)) == 32


@pytest.mark.parametrize("change, field", [
    (dict(hidden_size=180), "^h: the small model has 192"),
    (dict(num_hidden_layers=2), "^layers: "),
    (dict(vocab_size=1000), "^vocab: "),
    (dict(head_dim=48), "^head_dim 48 is not a multiple of 32"),
    (dict(num_attention_heads=12, num_key_value_heads=3), "query heads per KV head"),
])
def test_shapes_that_do_not_fit_are_named(small, change, field):
    from transformers import LlamaConfig

    from bench.graft import _dims

    target = LlamaConfig(**{**TARGET, **change})
    with pytest.raises(GraftError, match=field):
        check_fits(_dims(small.config), _dims(target))


def test_filler_leaves_no_duplicate_or_all_zero_matrix(small):
    """A .pte stores identical tensors once; duplicated zero layers would then share cache
    lines at run time and flatter the big shape's latency."""
    big = graft(small, big_config(small.config, TARGET))
    mats = [p for n, p in big.named_parameters() if p.dim() == 2 and "embed" not in n]
    assert all(bool(p.abs().sum() > 0) for p in mats)
    keys = {(tuple(p.shape), float(p.double().sum()), float(p.double().abs().sum())) for p in mats}
    assert len(keys) == len(mats)
