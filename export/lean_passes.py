"""Skip XNNPACK delegate passes that cannot apply to a graph (export speed).

Where export time goes (SmolLM2-135M INT8, py-spy, executorch 1.5.1): almost all of it is
Python re-tracing the ~4,000-node graph, once per pass. XNNPACK's preprocess runs 17 passes
on every delegated subgraph, and several of them look only for ops a decoder LM never has
(batch norm, convolution, PReLU, padding, bilinear upsampling) yet still pay a full
subgraph-matcher scan or a fake-tensor retrace. Skipping those when the graph holds none of
their ops changes nothing in the program (tests compare the .pte bytes with and without),
and saved about 13 % of the export.

A pass not listed in NEEDED always runs; so does every pass when the graph holds one of its
ops. The filter swaps XNNPACK's pass manager only inside `lean_xnnpack_passes()`.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch


def _targets(gm: torch.fx.GraphModule) -> set[str]:
    """Names of every op in the graph, plus the ATen op each node was decomposed from."""
    names = set()
    for node in gm.graph.nodes:
        if node.op == "call_function":
            names.add(str(node.target))
            names.add(str(node.meta.get("original_aten", "")))
    return names


def _any(*words: str) -> Callable[[torch.fx.GraphModule], bool]:
    return lambda gm: any(w in t for t in _targets(gm) for w in words)


def _long_cat(gm: torch.fx.GraphModule) -> bool:
    """DecomposeConcatenate only splits cats of more than 5 tensors."""
    return any(n.op == "call_function" and "cat" in str(n.target) and isinstance(n.args[0], (list, tuple))
               and len(n.args[0]) > 5 for n in gm.graph.nodes)


# pass class name -> does this graph need it?
NEEDED: dict[str, Callable[[torch.fx.GraphModule], bool]] = {
    "ConvertToUpsampleBilinear2d": _any("upsample", "interpolate"),
    "FuseBatchNormPass": _any("batch_norm"),
    "DecomposeBatchNorm": _any("batch_norm"),
    "Conv1dUnsqueezePass": _any("convolution", "conv1d"),
    "PReLUReshapePass": _any("prelu"),
    "InsertPadQDQPass": _any("constant_pad_nd"),
    "DecomposeConcatenate": _long_cat,
}


def needed_passes(passes: list, gm: torch.fx.GraphModule) -> list:
    return [p for p in passes if NEEDED.get(p.__name__, lambda _: True)(gm)]


@contextlib.contextmanager
def lean_xnnpack_passes(enabled: bool = True) -> Iterator[list[str]]:
    """Inside: XNNPACK's preprocess runs only the passes its subgraph needs. Yields the list
    of skipped pass names (filled while lowering), for the export metadata."""
    from executorch.backends.xnnpack import xnnpack_preprocess
    from executorch.backends.xnnpack._passes import XNNPACKPassManager

    skipped: list[str] = []
    if not enabled:
        yield skipped
        return

    class LeanPassManager(XNNPACKPassManager):
        def __init__(self, exported_program, passes=None):
            super().__init__(exported_program, passes)
            if passes is None:  # the default list: drop what this subgraph cannot use
                kept = needed_passes(self.passes, exported_program.graph_module)
                skipped.extend(p.__name__ for p in self.passes if p not in kept)
                self.passes = kept

    original = xnnpack_preprocess.XNNPACKPassManager
    xnnpack_preprocess.XNNPACKPassManager = LeanPassManager
    try:
        yield skipped
    finally:
        xnnpack_preprocess.XNNPACKPassManager = original
