"""Build the trainable model (LoRA adapter or full fine-tune) and write the run's final
artifacts: adapter/ (peft format) and merged/ (plain transformers model + tokenizer)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from core.config import check
from core.errors import TrainError


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("train.device=cuda but no CUDA GPU is visible (check `nvidia-smi`, the CUDA build "
                         "of torch, `docker run --gpus all`), or set train.device=cpu / auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def resolve_precision(precision: str, device_type: str, bf16_supported: bool) -> str:
    """`train.precision` -> bf16 | fp16 | fp32. auto: bf16 where the GPU has it, fp16 with loss
    scaling where it has not (T4, V100: fp32 there is several times slower than fp16), fp32 on
    CPU (CPU fp16 matmuls are slow; CPU bf16 is a choice, see bench.bench_cpu_lora)."""
    cuda = device_type == "cuda"
    if precision == "auto":
        return ("bf16" if bf16_supported else "fp16") if cuda else "fp32"
    if precision == "bf16" and cuda and not bf16_supported:
        raise TrainError("train.precision=bf16 but this GPU has no bf16 support (T4, V100, ...); set "
                         "train.precision=fp16 (loss-scaled) or auto")
    return precision


def pick_dtype(precision: str, device: torch.device) -> torch.dtype:
    # Native bf16 only (Ampere+): torch counts a T4's emulated bf16 as "supported" by default,
    # and emulated bf16 is slower than fp16 there.
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)
    return DTYPES[resolve_precision(precision, device.type, bf16)]


def build(cfg, device: torch.device, compute_dtype: torch.dtype):
    """LoRA: frozen base stored in the compute dtype, fp32 adapter under autocast (peft keeps
    adapter weights fp32 over a bf16/fp16 base, so fp16 gradients never reach the GradScaler).
    Full fine-tune: fp32 master weights under autocast (mixed precision)."""
    from core.loading import load_model

    weight_dtype = compute_dtype if not cfg.model.full_finetune else torch.float32
    model = load_model(cfg.model.base, dtype=weight_dtype, attn_implementation=cfg.model.attn_implementation)
    model.config.use_cache = False
    if cfg.model.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.model.full_finetune:
        check(not cfg.lora.init_from, "lora.init_from is a LoRA warm start; unset it or model.full_finetune")
    elif cfg.lora.init_from:
        model = resume_lora(model, cfg.lora, cfg.model.base)
    else:
        model = add_lora(model, cfg.lora)
    model.to(device)
    if cfg.model.compile:
        compile_layers(model, dynamic=False if cfg.data.packing else None)
    return model


def compile_layers(model, dynamic: bool | None = False) -> None:
    """Regional torch.compile: every decoder layer runs the same code, so one compiled
    graph serves them all (seconds to compile instead of minutes for the whole model);
    the mask, embedding and loss stay eager."""
    from train.loss import base_model

    for layer in base_model(model).get_decoder().layers:
        layer.compile(dynamic=dynamic)  # packed batches: one static shape


def add_lora(model, lora_cfg):
    from peft import LoraConfig, get_peft_model

    targets = lora_cfg.target_modules
    target = "all-linear" if targets == ["all-linear"] else targets
    pcfg = LoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
                      target_modules=target, bias="none", task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, pcfg)
    except ValueError as exc:
        raise TrainError(f"lora.target_modules={targets}: {exc}") from None


def resume_lora(model, lora_cfg, base: str):
    """The adapter in lora.init_from, trainable, after checking it is the LoRA the config
    describes (the run records the config, so a silent mismatch would mislabel the run)."""
    from core.loading import adapter_lora_settings, attach_adapter

    have = adapter_lora_settings(lora_cfg.init_from)
    want = {"r": lora_cfg.r, "alpha": lora_cfg.alpha}
    wrong = {k: f"config {want[k]}, adapter {have[k]}" for k in want if have.get(k) != want[k]}
    if wrong:
        raise TrainError(f"lora.init_from={lora_cfg.init_from}: its LoRA differs from the config's ("
                         + "; ".join(f"lora.{k}: {v}" for k, v in wrong.items()) + "): set them to match")
    # what get_peft_model records for a fresh LoRA: the base this run loaded, not the one the
    # warm-start adapter recorded (a leg on another base, e.g. a trimmed vocabulary, would
    # otherwise be merged onto the first leg's base by every later stage)
    loaded = model.__dict__.get("name_or_path") or base
    peft_model = attach_adapter(model, lora_cfg.init_from, base, trainable=True)
    for pcfg in peft_model.peft_config.values():
        pcfg.base_model_name_or_path = loaded
    return peft_model


def warn_instruction_change(adapter: str, instruction_text: str) -> None:
    """A warm start onto another prompt is allowed (the adapter re-learns it) but should not
    happen by accident: the released adapter was trained with the legacy instruction."""
    from core.loading import adapter_instruction
    from core.paths import input_path
    from core.prompt import LEGACY_INSTRUCTION

    had = adapter_instruction(input_path(adapter)) or LEGACY_INSTRUCTION
    if had != instruction_text:
        print(f"warning: lora.init_from={adapter} was trained with the instruction {had!r}; this run "
              f"trains with data.instruction={instruction_text!r}", file=sys.stderr)


def count_params(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def save_outputs(model, tokenizer, run_dir: Path, full_finetune: bool, meta: dict) -> Path:
    """adapter/ (LoRA only) then merged/; each folder appears complete or not at all."""
    from core.runs import atomic_path
    from train.loss import base_model

    if not full_finetune:
        with atomic_path(run_dir / "adapter") as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        merged = model.merge_and_unload()
    else:
        merged = base_model(model)
    merged = getattr(merged, "_orig_mod", merged)
    with atomic_path(run_dir / "merged") as tmp:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "training_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return run_dir / "merged"
