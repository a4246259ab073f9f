"""Evaluation during training: answer-token loss on the eval pairs and exact match of
greedy generations on a fixed sample of them (prompt/decoding via core.prompt)."""
from __future__ import annotations

import torch

from train.loss import base_model, loss_sum
from train.packing import collate_packed, pack_plan


@torch.no_grad()
def eval_loss(model, examples, row_tokens: int, batch_tokens: int, pad_id: int, device, autocast) -> float:
    rows_per_batch = max(1, batch_tokens // row_tokens)
    plan = pack_plan([len(e) for e in examples], range(len(examples)), row_tokens, rows_per_batch)
    total, count = 0.0, 0
    for rows in plan:
        batch = collate_packed(examples, rows, len(rows), row_tokens, pad_id)
        batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        with autocast():
            loss, n = loss_sum(model, batch, chunked=True)
        total += float(loss)
        count += n
    return total / max(1, count)


@torch.no_grad()
def generate(model, tokenizer, texts: list[str], max_new_tokens: int, device,
             batch_size: int = 16) -> list[str]:
    """Greedy answers for `texts` (left-padded batches, stop at end-of-turn/EOS)."""
    from core.prompt import decode_answer, eos_ids, prompt_ids

    base = base_model(model)
    stops = eos_ids(tokenizer)
    pad = tokenizer.pad_token_id
    out = []
    for k in range(0, len(texts), batch_size):
        prompts = [prompt_ids(tokenizer, t) for t in texts[k:k + batch_size]]
        width = max(map(len, prompts))
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        gen = base.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                            do_sample=False, eos_token_id=stops, pad_token_id=pad, use_cache=True)
        out += [decode_answer(tokenizer, row[width:].tolist()) for row in gen]
    return out


def exact_match(model, tokenizer, pairs: list[dict], max_new_tokens: int, device) -> tuple[float, list[dict]]:
    was_training = model.training
    model.eval()
    try:
        preds = generate(model, tokenizer, [p["input"] for p in pairs], max_new_tokens, device)
    finally:
        model.train(was_training)
    rows = [{"input": p["input"], "output": p["output"], "pred": y} for p, y in zip(pairs, preds)]
    return sum(r["pred"] == r["output"].strip() for r in rows) / max(1, len(rows)), rows
