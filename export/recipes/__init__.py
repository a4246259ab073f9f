"""Export recipes, registered by name. A recipe says how the fp32 model is quantized before
lowering (all current recipes lower to XNNPACK). Add one: a small module here that calls
`register(Recipe(...))`, imported at the bottom of this file."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from core.config import ConfigError


class UnknownRecipeError(ConfigError):
    """The recipe name is not registered; the message lists the known ones."""


class RecipeUnavailableError(ConfigError):
    """The recipe is known but cannot run in this environment; the message says why."""


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    scheme: str  # short quantization label: fp32 | 8da8w | 8da4w
    # quantize(model, group_size) -> facts for the metadata; mutates the model in place.
    quantize: Callable[[Any, int], dict[str, Any]]
    uses_group_size: bool = False
    # Which runtimes can load the file (the kernels it needs).
    loadable_by: tuple[str, ...] = field(default=(
        "ExecuTorch Python runtime (pip wheel)", "host typo_runner (portable + quantized + XNNPACK)",
        "Android typo_runner"))
    # None when the recipe can run here, else the reason (checked before any slow work).
    unavailable: Callable[[], str | None] = lambda: None
    # prepare(fp32 HF model, max_seq_len) -> wrapper whose `.model` is exported; None = chosen by
    # the export's `attention` setting (export/attention.py: lean where supported, else static).
    prepare: Callable[[Any, int], Any] | None = None
    attention: str = ""  # with `prepare`: what it runs ("lean", "custom-sdpa"), for the metadata
    # Operator libraries (beyond portable + quantized + XNNPACK) a runtime must load for the file.
    runtime_ops: tuple[str, ...] = ()
    # to_executorch re-inplaces functional index_put on mutable buffers (a KV-cache write
    # becomes an in-place write of T slots, no cache copy + write-back); off = the bytes the
    # older recipes always had.
    reinplace: bool = False

    def check_available(self) -> None:
        reason = self.unavailable()
        if reason:
            raise RecipeUnavailableError(f"recipe {self.name!r} cannot run here: {reason}")


_REGISTRY: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    if recipe.name in _REGISTRY:
        raise ValueError(f"recipe {recipe.name!r} registered twice")
    _REGISTRY[recipe.name] = recipe
    return recipe


def recipe_names() -> list[str]:
    return sorted(_REGISTRY)


def get_recipe(name: str) -> Recipe:
    if name not in _REGISTRY:
        raise UnknownRecipeError(f"unknown export recipe {name!r}; "
                                 f"known recipes: {', '.join(recipe_names())}")
    return _REGISTRY[name]


# Registration happens on import of each recipe module (order = listing order).
from export.recipes import (  # noqa: E402,F401
    optimum_sdpa,
    xnnpack_fp32,
    xnnpack_fp32_lean,
    xnnpack_fp32_sdpa,
    xnnpack_int4,
    xnnpack_int4_lean,
    xnnpack_int4_sdpa,
    xnnpack_int8,
)
