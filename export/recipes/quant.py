"""torchao building blocks the quantized recipes share (measured working combination:
IntxWeightOnlyConfig on the embedding, Int8DynamicActivationIntxWeightConfig on linears).
Int8DynamicActivationInt8WeightConfig and Int8WeightOnlyConfig do NOT work here (missing
out-variants; a silently wrong fp32-sized file)."""
from __future__ import annotations

from typing import Any

import torch


def _granularity(group_size: int | None):
    from torchao.quantization.granularity import PerAxis, PerGroup

    return PerAxis(0) if group_size is None else PerGroup(group_size)


def _label(bits: int, group_size: int | None) -> str:
    return f"int{bits} " + ("per-channel" if group_size is None else f"group {group_size}")


def quantize_embedding(model: torch.nn.Module, bits: int, group_size: int | None) -> str:
    from torchao.quantization import quantize_
    from torchao.quantization.quant_api import IntxWeightOnlyConfig

    cfg = IntxWeightOnlyConfig(weight_dtype=getattr(torch, f"int{bits}"),
                               granularity=_granularity(group_size))
    quantize_(model, cfg, filter_fn=lambda mod, fqn: isinstance(mod, torch.nn.Embedding))
    return _label(bits, group_size) + " weight-only"


def quantize_linears(model: torch.nn.Module, bits: int, group_size: int | None) -> str:
    """Dynamic int8 activations x intN weights ("8daNw"); covers lm_head too (the tied
    embedding is quantized separately, so the file holds both copies)."""
    from torchao.quantization import quantize_
    from torchao.quantization.quant_api import Int8DynamicActivationIntxWeightConfig

    cfg = Int8DynamicActivationIntxWeightConfig(
        weight_dtype=getattr(torch, f"int{bits}"), weight_granularity=_granularity(group_size))
    quantize_(model, cfg, filter_fn=lambda mod, fqn: isinstance(mod, torch.nn.Linear))
    return "int8 dynamic activations, " + _label(bits, group_size) + " weights"


def check_group_size(model: torch.nn.Module, group_size: int) -> None:
    """Every linear's input width must be a multiple of the group size."""
    from core.config import ConfigError

    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and mod.in_features % group_size:
            raise ConfigError(f"group_size {group_size} does not divide the input width "
                              f"{mod.in_features} of layer {name}; pick a divisor (e.g. 32)")


def facts(scheme: str, linear: str, embedding: str, group_size: int | None) -> dict[str, Any]:
    return {"scheme": scheme, "linear": linear, "embedding": embedding, "group_size": group_size}
