"""Batches without padding waste: samples are packed end to end into fixed-size rows.

Isolation between packed samples comes from the position ids: they restart at 0 for
every sample, and transformers (masking_utils.find_packed_sequence_indices) turns a
restart into a block-diagonal causal mask for eager/sdpa/flex attention whenever
attention_mask is None and no KV cache is used. tests/test_train_packing.py proves it:
per-sample losses of a packed batch equal those of each sample run alone.

Targets are shifted here (target[t] = id[t+1] when t+1 is an answer token of the same
sample, else -100), so the loss only computes the LM head on answer positions.
The fallback (packing off) is length-bucketed padded batches.
"""
from __future__ import annotations

from typing import Sequence

import torch

IGNORE = -100


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The sample order of one epoch: a pure function of (seed, epoch), so resuming
    mid-epoch replays exactly the same batches without saving them."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def pack_plan(lengths: Sequence[int], order: Sequence[int], row_tokens: int,
              rows_per_batch: int) -> list[list[list[int]]]:
    """Greedy packing in the given order: batches of rows of sample indices."""
    rows, row, used = [], [], 0
    for i in order:
        if used + lengths[i] > row_tokens and row:
            rows.append(row)
            row, used = [], 0
        row.append(i)
        used += lengths[i]
    if row:
        rows.append(row)
    return [rows[k:k + rows_per_batch] for k in range(0, len(rows), rows_per_batch)]


def bucket_plan(lengths: Sequence[int], order: Sequence[int], batch_tokens: int, seed: int,
                epoch: int) -> list[list[list[int]]]:
    """Padded fallback: sort by length inside large windows so batches pad little, cap
    each batch at batch_tokens (padded), then shuffle the batch order."""
    window = 64 * max(1, batch_tokens // max(1, max(lengths)))
    batches: list[list[int]] = []
    for k in range(0, len(order), window):
        chunk = sorted(order[k:k + window], key=lambda i: lengths[i])
        cur: list[int] = []
        for i in chunk:
            if cur and max(lengths[i], lengths[cur[-1]]) * (len(cur) + 1) > batch_tokens:
                batches.append(cur)
                cur = []
            cur.append(i)
        if cur:
            batches.append(cur)
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7)
    return [[b] for b in (batches[j] for j in torch.randperm(len(batches), generator=g).tolist())]


def _targets(ids: list[int], n_prompt: int) -> list[int]:
    """Next-token targets inside one sample: only answer tokens are predicted."""
    return [ids[t + 1] if t + 1 >= n_prompt else IGNORE for t in range(len(ids) - 1)] + [IGNORE]


def collate_packed(examples, rows: list[list[int]], n_rows: int, row_tokens: int, pad_id: int) -> dict:
    """Fixed shape [n_rows, row_tokens] (static shapes keep torch.compile to one graph).
    Padding at a row's end is its own segment (positions restart) and has no targets."""
    ids = torch.full((n_rows, row_tokens), pad_id, dtype=torch.long)
    pos = torch.zeros((n_rows, row_tokens), dtype=torch.long)
    tgt = torch.full((n_rows, row_tokens), IGNORE, dtype=torch.long)
    seg = torch.full((n_rows, row_tokens), -1, dtype=torch.long)
    n_real = 0
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            ex = examples[i]
            n = len(ex.ids)
            ids[r, at:at + n] = torch.tensor(ex.ids)
            pos[r, at:at + n] = torch.arange(n)
            tgt[r, at:at + n] = torch.tensor(_targets(ex.ids, ex.n_prompt))
            seg[r, at:at + n] = i
            at += n
        pos[r, at:] = torch.arange(row_tokens - at)
        n_real += at
    return {"input_ids": ids, "position_ids": pos, "targets": tgt, "segments": seg, "n_real": n_real}


def round_up(n: int, multiple: int) -> int:
    """n padded up to a multiple. Why on a CPU: oneDNN builds (JIT) and caches a kernel per
    matmul shape, so a padded batch of a new width costs a new kernel and cache memory each
    step (bench.bench_train_memory); a few widths reuse a few kernels."""
    return -(-n // multiple) * multiple


def collate_padded(examples, indices: list[int], pad_id: int, pad_to: int | None = None,
                   multiple: int = 1) -> dict:
    """Right-padded batch with an attention mask (the plain fallback and the baseline)."""
    width = pad_to or round_up(max(len(examples[i].ids) for i in indices), multiple)
    n = len(indices)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    tgt = torch.full((n, width), IGNORE, dtype=torch.long)
    seg = torch.full((n, width), -1, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    for r, i in enumerate(indices):
        ex = examples[i]
        k = len(ex.ids)
        ids[r, :k] = torch.tensor(ex.ids)
        tgt[r, :k] = torch.tensor(_targets(ex.ids, ex.n_prompt))
        seg[r, :k] = i
        mask[r, :k] = 1
    pos = torch.arange(width).expand(n, width).clone()
    return {"input_ids": ids, "position_ids": pos, "targets": tgt, "segments": seg,
            "attention_mask": mask, "n_real": int(mask.sum())}


def make_plan(examples, seed: int, epoch: int, packing: bool, row_tokens: int,
              batch_tokens: int) -> list[list[list[int]]]:
    lengths = [len(e) for e in examples]
    order = epoch_order(len(examples), seed, epoch)
    if packing:
        return pack_plan(lengths, order, row_tokens, max(1, batch_tokens // row_tokens))
    return bucket_plan(lengths, order, batch_tokens, seed, epoch)


def collate(examples, batch: list[list[int]], packing: bool, row_tokens: int, batch_tokens: int,
            pad_id: int, multiple: int = 1) -> dict:
    if packing:
        return collate_packed(examples, batch, max(1, batch_tokens // row_tokens), row_tokens, pad_id)
    return collate_padded(examples, batch[0], pad_id, multiple=multiple)
