"""The lowering core every XNNPACK recipe shares: wrap the model with a static KV cache,
torch.export it with a dynamic token count, quantize (per recipe), lower to XNNPACK and
serialize. Measured on executorch 1.5.1 / torchao 0.18 / transformers 5.24:
strict=True export works, strict=False does not; embeddings must lose `padding_idx`
before quantized export or the program misses `torchao::dequantize_affine` out-variants.
"""
from __future__ import annotations

from typing import Any

import torch

# Stages of one export, for progress output (tqdm over these).
STAGES = ("quantize", "torch.export", "to_edge + XNNPACK", "to_executorch", "serialize")


def strip_padding_idx(model: torch.nn.Module) -> int:
    """Drop `padding_idx` from every embedding (it only masks gradients, so inference is
    unchanged); quantized embeddings otherwise keep an op without an out-variant."""
    n = 0
    for mod in model.modules():
        if isinstance(mod, torch.nn.Embedding) and mod.padding_idx is not None:
            mod.padding_idx = None
            n += 1
    return n


def prepare_model(model: torch.nn.Module, max_seq_len: int) -> torch.nn.Module:
    """fp32 eval model -> module with forward(input_ids, cache_position) and a static cache."""
    from transformers.integrations.executorch import TorchExportableModuleForDecoderOnlyLM

    model = model.to(torch.float32).eval()
    gen = model.generation_config
    gen.use_cache = True
    gen.cache_implementation = "static"
    gen.cache_config = {"batch_size": 1, "max_cache_len": max_seq_len, "device": "cpu"}
    model.config.use_cache = True
    strip_padding_idx(model)
    return TorchExportableModuleForDecoderOnlyLM(model, batch_size=1, max_cache_len=max_seq_len)


def export_program(wrapper: torch.nn.Module, max_seq_len: int) -> torch.export.ExportedProgram:
    """torch.export (strict) with T dynamic in 1..max_seq_len for input_ids and cache_position.
    Example T=2 so the tracer does not specialise on T=1."""
    seq = torch.export.Dim("seq_len", min=1, max=max_seq_len)
    ids = torch.zeros(1, 2, dtype=torch.long)
    pos = torch.arange(2, dtype=torch.long)
    with torch.no_grad():
        return torch.export.export(
            wrapper.model, args=(), kwargs={"input_ids": ids, "cache_position": pos},
            dynamic_shapes={"input_ids": {1: seq}, "cache_position": {0: seq}}, strict=True,
        )


def lower(program: torch.export.ExportedProgram, constant_methods: dict[str, Any], lean: bool = True):
    """ATen program -> (EdgeProgramManager lowered to XNNPACK, names of the XNNPACK passes
    skipped). `lean` skips the passes whose ops the graph lacks (same program, faster: see
    export/lean_passes.py)."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, to_edge_transform_and_lower

    from export.lean_passes import lean_xnnpack_passes

    with lean_xnnpack_passes(lean) as skipped:
        edge = to_edge_transform_and_lower(
            program, partitioner=[XnnpackPartitioner()], constant_methods=constant_methods,
            compile_config=EdgeCompileConfig(_check_ir_validity=False),
        )
    return edge, sorted(set(skipped))


def to_bytes(edge, reinplace: bool = False) -> bytes:
    from executorch.exir import ExecutorchBackendConfig
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass

    # Quant fusion turns torchao's dequantize_affine+embedding into the quantized kernels'
    # embedding_byte/embedding_4bit (else: missing out-variant for dequantize_affine).
    et = edge.to_executorch(ExecutorchBackendConfig(
        extract_delegate_segments=True,
        do_quant_fusion_and_const_prop=True,
        memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False),
        sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass(),
        run_reinplace_pass=reinplace,
    ))
    return et.buffer


def delegated_ops(edge) -> dict[str, int]:
    """Ops inside XNNPACK delegates and ops left outside them (by name -> count), read from
    the lowered edge program: what the tests assert on."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(edge.exported_program().graph_module)
    out = {"delegated": {}, "non_delegated": {}, "num_delegated_subgraphs": info.num_delegated_subgraphs}
    for op, row in info.delegation_by_operator.items():
        if row.delegated:
            out["delegated"][op] = row.delegated
        if row.non_delegated:
            out["non_delegated"][op] = row.non_delegated
    return out

