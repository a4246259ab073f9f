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


def weight_config(bits: int, group_size: int | None, dynamic_activations: bool, hqq: bool = False):
    """The torchao config of intN weights (per channel, or in groups), with dynamic int8
    activations (XNNPACK's 8daNw) or weight-only; hqq: HQQ's scale search instead of min/max
    (still symmetric). The recipes use the default scales; bench.bench_quant_agreement tries both."""
    from torchao.quantization.quant_api import Int8DynamicActivationIntxWeightConfig, IntxWeightOnlyConfig
    from torchao.quantization.quantize_.workflows import IntxChooseQParamsAlgorithm

    dtype, gran = getattr(torch, f"int{bits}"), _granularity(group_size)
    algo = IntxChooseQParamsAlgorithm.HQQ_SCALE_ONLY if hqq else IntxChooseQParamsAlgorithm.AFFINE
    if dynamic_activations:
        return Int8DynamicActivationIntxWeightConfig(weight_dtype=dtype, weight_granularity=gran,
                                                     intx_choose_qparams_algorithm=algo)
    return IntxWeightOnlyConfig(weight_dtype=dtype, granularity=gran, intx_choose_qparams_algorithm=algo)


def quantize_embedding(model: torch.nn.Module, bits: int, group_size: int | None) -> str:
    from torchao.quantization import quantize_

    quantize_(model, weight_config(bits, group_size, dynamic_activations=False),
              filter_fn=lambda mod, fqn: isinstance(mod, torch.nn.Embedding))
    return _label(bits, group_size) + " weight-only"


def quantize_linears(model: torch.nn.Module, bits: int, group_size: int | None) -> str:
    """Dynamic int8 activations x intN weights ("8daNw"); covers lm_head too (the tied
    embedding is quantized separately, so the file holds both copies)."""
    from torchao.quantization import quantize_

    quantize_(model, weight_config(bits, group_size, dynamic_activations=True),
              filter_fn=lambda mod, fqn: isinstance(mod, torch.nn.Linear))
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
