"""Shared-prefix batches. Every prompt starts with the same chat-template + instruction
tokens (about half of each tiny-preset sample). A batch computes that prefix once and
every sample attends to the one copy: the prefix's KV cache, expanded over the batch,
with gradients flowing back into it. Per-sample losses equal those of each full sample
alone (tests/test_train.py checks it); it works with padded batches (packing off)."""
from __future__ import annotations

import inspect

import torch

from train.packing import IGNORE, _targets, round_up


def common_prefix(examples) -> int:
    """Longest prefix of token ids shared by every example, stopping one token before
    the first answer so the position that predicts it stays in the per-sample part."""
    first = examples[0].ids
    n = min(e.n_prompt for e in examples) - 1
    for e in examples:
        k = 0
        while k < n and e.ids[k] == first[k]:
            k += 1
        n = k
    return max(0, n)


def collate_prefixed(examples, indices: list[int], prefix: int, pad_id: int, multiple: int = 1) -> dict:
    """Right-padded suffixes [B, S] after one shared prefix [1, P]; S is rounded up to a multiple
    of `multiple` (CPU: few distinct shapes, see packing.round_up)."""
    width = round_up(max(len(examples[i].ids) - prefix for i in indices), multiple)
    n = len(indices)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    tgt = torch.full((n, width), IGNORE, dtype=torch.long)
    seg = torch.full((n, width), -1, dtype=torch.long)
    mask = torch.zeros((n, prefix + width), dtype=torch.long)
    mask[:, :prefix] = 1
    for r, i in enumerate(indices):
        ex = examples[i]
        k = len(ex.ids) - prefix
        ids[r, :k] = torch.tensor(ex.ids[prefix:])
        tgt[r, :k] = torch.tensor(_targets(ex.ids, ex.n_prompt)[prefix:])
        seg[r, :k] = i
        mask[r, prefix:prefix + k] = 1
    pos = (prefix + torch.arange(width)).expand(n, width).clone()
    return {"prefix_ids": torch.tensor([examples[indices[0]].ids[:prefix]]), "input_ids": ids,
            "position_ids": pos, "targets": tgt, "segments": seg, "attention_mask": mask,
            "n_real": sum(len(examples[i].ids) for i in indices)}  # the tokens the samples hold


def prefixed_hidden(decoder, batch: dict) -> torch.Tensor:
    """Decoder states of the suffix positions, attending to the shared prefix's cache."""
    pre = decoder(input_ids=batch["prefix_ids"], use_cache=True)
    # transformers 5 calls the cache `cache` (`past_key_values` is deprecated and warns every step)
    modern = "cache" in inspect.signature(decoder.forward).parameters
    cache = pre["cache"] if modern else pre.past_key_values
    n = batch["input_ids"].shape[0]
    for layer in cache.layers:  # one copy, broadcast over the batch (no memory, shared grads)
        layer.keys = layer.keys.expand(n, -1, -1, -1)
        layer.values = layer.values.expand(n, -1, -1, -1)
    out = decoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                  position_ids=batch["position_ids"], use_cache=True,
                  **{"cache" if modern else "past_key_values": cache})
    return out.last_hidden_state
