"""The training loss: the decoder runs on the whole (packed) batch, but the LM head and
cross-entropy run only on answer positions (prompt and padding have no targets), in
chunks whose logits are never all alive at once (vocabularies reach 150k tokens)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from train.packing import IGNORE, round_up


def base_model(model: nn.Module) -> nn.Module:
    """The *ForCausalLM under DDP / PEFT / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):  # DDP
            model = model.module
        elif hasattr(model, "_orig_mod"):  # torch.compile
            model = model._orig_mod
        elif hasattr(model, "get_base_model"):  # PEFT
            model = model.get_base_model()
        else:
            return model


# Elements of one chunk's [rows, vocab] logits: the rows per chunk shrink as the vocabulary grows
# (Gemma's 262k-token head: 512 rows, 512 MB of fp32 logits).
CHUNK_ELEMENTS = 1 << 27
_WORKSPACE: dict[tuple, tuple[torch.Tensor, torch.Tensor | None]] = {}


def _workspace(rows: int, vocab: int, dtype: torch.dtype, device, aux: bool):
    """A [rows, vocab] fp32 logits buffer (and one in `dtype` when `aux`), kept from step to step.
    Why: a fresh multi-GB tensor per step is paid in the kernel, which zeroes every new page; on a
    Gemma 3 step (1 CPU thread) `clear_page` took 44 % of the time and system time exceeded user
    time before the buffers were reused. One shape is kept at a time."""
    key = (rows, vocab, dtype, str(device), aux)
    if key not in _WORKSPACE:
        _WORKSPACE.clear()
        _WORKSPACE[key] = (torch.empty(rows, vocab, dtype=torch.float32, device=device),
                           torch.empty(rows, vocab, dtype=dtype, device=device) if aux else None)
    return _WORKSPACE[key]


class _ChunkedLinearCE(torch.autograd.Function):
    """sum CE(h @ W^T, t) computed chunk by chunk; gradients are made in the forward pass
    so only [N, d]-sized tensors are kept for backward, never [N, vocab]. Rows whose target is
    IGNORE (shape padding) add no loss and no gradient. The [chunk, vocab] logits live in a
    reused workspace and every step on them is in place."""

    @staticmethod
    def forward(ctx, h, weight, targets, chunk: int, softcap: float):
        w = weight.to(h.dtype)
        chunk = max(1, min(chunk, CHUNK_ELEMENTS // w.shape[0], h.shape[0]))
        low = h.dtype != torch.float32
        f32, aux = _workspace(chunk, w.shape[0], h.dtype, h.device, low or bool(softcap))
        grad_h = torch.empty_like(h)
        grad_w = torch.zeros_like(weight, dtype=torch.float32) if weight.requires_grad else None
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        for s in range(0, h.shape[0], chunk):
            hc, tc = h[s:s + chunk], targets[s:s + chunk]
            keep, tc = (tc != IGNORE).to(f32.dtype), tc.clamp(min=0)
            n = hc.shape[0]
            logits = f32[:n]
            if low:
                logits.copy_(torch.mm(hc, w.T, out=aux[:n]))
            else:
                torch.mm(hc, w.T, out=logits)
            if softcap:  # logits = tanh(raw/c)*c; aux keeps d tanh = 1 - tanh^2 for the gradient
                logits.div_(softcap).tanh_()
                aux[:n].copy_(logits).square_().neg_().add_(1.0)
                logits.mul_(softcap)
            target = logits.gather(1, tc[:, None]).squeeze(1)
            top = logits.amax(dim=-1, keepdim=True)
            norm = logits.sub_(top).exp_().sum(dim=-1, keepdim=True)
            total += ((top.squeeze(1) + norm.squeeze(1).log() - target) * keep).sum()
            g = logits.div_(norm)  # softmax
            g[torch.arange(n, device=g.device), tc] -= 1.0
            if softcap:
                g.mul_(aux[:n])
            g.mul_(keep[:, None])
            if low:
                g = aux[:n].copy_(g)
            torch.mm(g, w, out=grad_h[s:s + n])
            if grad_w is not None:
                grad_w += (g.T @ hc).float()
        ctx.save_for_backward(grad_h, grad_w if grad_w is not None else torch.empty(0))
        ctx.has_w, ctx.weight_dtype = grad_w is not None, weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_h, grad_w = ctx.saved_tensors
        gw = (grad_w * grad_out).to(ctx.weight_dtype) if ctx.has_w else None
        return grad_h * grad_out.to(grad_h.dtype), gw, None, None, None


def linear_ce_sum(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int = 4096,
                  softcap: float = 0.0) -> torch.Tensor:
    return _ChunkedLinearCE.apply(h, weight, targets, chunk, float(softcap or 0.0))


def _softcap(model: nn.Module) -> float:
    return float(getattr(model.config, "final_logit_softcapping", None) or 0.0)


def answer_hidden(model: nn.Module, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder hidden states at positions that have a target, and those targets."""
    h = hidden_states(base_model(model), batch)
    sel = batch["targets"] != IGNORE
    return h[sel], batch["targets"][sel]


def hidden_states(base: nn.Module, batch: dict) -> torch.Tensor:
    """Last decoder states for the batch's input positions (packed, padded or prefixed)."""
    if "prefix_ids" in batch:
        from train.prefix import prefixed_hidden

        return prefixed_hidden(base.get_decoder(), batch)
    out = base.get_decoder()(
        input_ids=batch["input_ids"], position_ids=batch["position_ids"],
        attention_mask=batch.get("attention_mask"), use_cache=False,
    )
    return out.last_hidden_state


def pad_rows(h: torch.Tensor, t: torch.Tensor, multiple: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Answer rows rounded up to a multiple with zero states and IGNORE targets: the LM head's
    matmuls then see a few row counts, not a new one every step (train.packing.round_up)."""
    extra = round_up(h.shape[0], multiple) - h.shape[0]
    if not extra:
        return h, t
    return torch.cat([h, h.new_zeros(extra, h.shape[1])]), torch.cat([t, t.new_full((extra,), IGNORE)])


def loss_sum(model: nn.Module, batch: dict, chunked: bool = True,
             multiple: int = 1) -> tuple[torch.Tensor, int]:
    """(sum of answer-token cross-entropies, number of answer tokens)."""
    h, t = answer_hidden(model, batch)
    n = int(t.numel())
    base = base_model(model)
    head = base.get_output_embeddings()
    if head.bias is not None or not chunked:
        logits = head(h).float()
        cap = _softcap(base)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        return F.cross_entropy(logits, t, reduction="sum"), n
    h, t = pad_rows(h, t, multiple)
    return linear_ce_sum(h, head.weight, t, softcap=_softcap(base)), n


class LossModule(nn.Module):
    """Wraps the model so DDP sees one forward that returns the loss."""

    def __init__(self, model: nn.Module, chunked: bool = True, multiple: int = 1):
        super().__init__()
        self.model = model
        self.chunked = chunked
        self.multiple = multiple

    def forward(self, batch: dict) -> tuple[torch.Tensor, int]:
        return loss_sum(self.model, batch, self.chunked, self.multiple)


@torch.no_grad()
def per_sample_losses(model: nn.Module, batch: dict) -> dict[int, float]:
    """Mean answer-token loss per sample id (segments) of one batch: the isolation check."""
    base = base_model(model)
    logits = base.get_output_embeddings()(hidden_states(base, batch))
    cap = _softcap(base)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    ce = F.cross_entropy(logits.float().flatten(0, 1), batch["targets"].flatten(),
                         reduction="none", ignore_index=IGNORE).view_as(batch["targets"])
    res = {}
    for sid in batch["segments"].unique().tolist():
        if sid < 0:
            continue
        m = (batch["segments"] == sid) & (batch["targets"] != IGNORE)
        res[sid] = float(ce[m].mean())
    return res
