"""Export a trained corrector to ExecuTorch `.pte` files (XNNPACK), one per recipe.

    python -m export.export_to_pte --model models/checkpoint                 # int8 + int4
    python -m export.export_to_pte --model runs/train/<name> recipes=[xnnpack-fp32] max_seq_len=256

Each `<out_dir>/<name>-<tag>.pte` gets `<name>-<tag>.json` (metadata) beside it, and
`tokenizer.json` is copied to the out dir. Every file is written atomically, so an
interrupted export leaves no half-written file in models/.
"""
from __future__ import annotations

import hashlib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from core.cli import Flag, flag_overrides, run_cli, stage_parser
from core.config import load_config
from core.paths import check_not_an_input, check_output_dir, check_output_file, output_path
from core.runs import atomic_write_bytes, atomic_write_json, library_versions
from export import parallel, vocab_trim
from export.config import ExportConfig, pte_name
from export.memory import PeakRss
from export.recipes import get_recipe
from export.source import Source, load_source_model, load_source_tokenizer, resolve_source
from export.vocab_trim import VocabTrim, slice_model, trimmed_tokenizer

DEFAULT_CONFIG = Path(__file__).resolve().parent / "configs" / "default.yaml"


def export_model(model_dir: str | Path | Source, recipe: str, out_path: str | Path, max_seq_len: int = 512,
                 group_size: int = 32, eval_data: str | Path | None = None, progress: bool = True,
                 bar_position: int | None = None, attention: str = "auto",
                 vocab_trim: VocabTrim | None = None) -> dict:
    """Export one recipe of a model/run dir to `out_path` (+ metadata JSON and
    tokenizer.json beside it). `attention`: auto | lean | static (export/attention.py);
    `vocab_trim`: the kept tokens (export/vocab_trim.py, decided once by export_all).
    Returns the metadata."""
    from export import attention as attn

    rec = get_recipe(recipe)  # fail on a bad name before any slow work
    rec.check_available()
    attn.check_mode(attention)  # before any slow work
    src = model_dir if isinstance(model_dir, Source) else resolve_source(model_dir)
    out_path = Path(out_path)
    tok = load_source_tokenizer(src)
    with tempfile.TemporaryDirectory(prefix="vocab-trim-") as tmp:
        if vocab_trim is not None:  # prompts, EOS ids and the eval-fit check in the trimmed ids
            tok = trimmed_tokenizer(tok, vocab_trim, tmp)
        return _export(rec, src, tok, out_path, max_seq_len, group_size, eval_data, progress, bar_position,
                       attention, vocab_trim)


def _export(rec, src: Source, tok, out_path: Path, max_seq_len: int, group_size: int, eval_data,
            progress: bool, bar_position: int | None, attention: str, vocab_trim: VocabTrim | None) -> dict:
    from tqdm import tqdm

    from core import prompt
    from export import attention as attn
    from export import lower
    from export.seqlen import check_eval_fits

    if eval_data:
        check_eval_fits(tok, eval_data, max_seq_len)
    # closed on an error too: an open bar would print itself over the error line
    with tqdm(lower.STAGES, desc=f"export {rec.name}", disable=not progress, unit="stage",
              position=bar_position) as bar:
        t0 = time.perf_counter()
        with PeakRss() as rss:
            model = load_source_model(src)
            if vocab_trim is not None:
                slice_model(model, vocab_trim.old_ids)
            vocab = int(model.get_output_embeddings().out_features)
            prepare, reinplace, label = attn.resolve(rec, model, attention)
            wrapper = prepare(model, max_seq_len)
            bar.set_postfix_str("quantize")
            quant = rec.quantize(wrapper, group_size)
            bar.update()
            bar.set_postfix_str("torch.export")
            program = lower.export_program(wrapper, max_seq_len)
            bar.update()
            consts = {"get_max_seq_len": max_seq_len, "get_eos_ids": prompt.eos_ids(tok),
                      "get_vocab_size": vocab}
            bar.set_postfix_str("to_edge + XNNPACK")
            edge, skipped = lower.lower(program, consts)
            bar.update()
            delegation = lower.delegated_ops(edge)
            bar.set_postfix_str("to_executorch")
            data = lower.to_bytes(edge, reinplace=reinplace)
            bar.update()
        seconds = time.perf_counter() - t0
        atomic_write_bytes(out_path, data)
        out_path.chmod(0o644)  # mkstemp makes 0600; the bench/adb push read it as artifacts
        _copy_tokenizer(src, tok, out_path.parent, vocab_trim)
        bar.update()
    meta = _metadata(rec, src, tok, consts, quant, delegation, data, seconds, rss.peak_mb, max_seq_len)
    meta["attention"] = label  # lean | static | custom-sdpa (export/attention.py)
    meta["skipped_xnnpack_passes"] = skipped  # passes with nothing to do (export/lean_passes.py)
    # None: the full vocabulary; else what was kept, from which corpus, and old_ids (new id i is
    # token old_ids[i] of the source model), which maps ids back to the source tokenizer's
    meta["vocab_trim"] = vocab_trim.describe() if vocab_trim is not None else None
    atomic_write_json(out_path.with_suffix(".json"), meta)
    return meta


def _copy_tokenizer(src: Source, tok, out_dir: Path, vocab_trim: VocabTrim | None = None) -> None:
    """tokenizer.json beside the .pte: the runner/bench tokenize on the host with it."""
    f = Path(src.tokenizer_dir or "") / "tokenizer.json"
    if vocab_trim is not None:  # the file's ids are the trimmed model's
        atomic_write_bytes(out_dir / "tokenizer.json", vocab_trim.tokenizer_json.encode())
    elif f.is_file():
        atomic_write_bytes(out_dir / "tokenizer.json", f.read_bytes())
    else:  # e.g. an adapter whose tokenizer lives with a Hub base: serialize the loaded one
        atomic_write_bytes(out_dir / "tokenizer.json", tok.backend_tokenizer.to_str().encode())


def _metadata(rec, src: Source, tok, consts: dict, quant: dict, delegation: dict, data: bytes,
              seconds: float, peak_mb: float, max_seq_len: int) -> dict[str, Any]:
    from core import decoding, prompt

    return {
        "format": "typo-corrector-pte/1",
        "recipe": rec.name, "backend": "xnnpack", "quantization": quant,
        "methods": {"forward": "forward(input_ids int64 [1,T], cache_position int64 [T]) "
                               "-> logits float32 [1,T,V]",
                    **{k: v for k, v in consts.items()}},
        "max_seq_len": max_seq_len, "eos_ids": consts["get_eos_ids"], "vocab_size": consts["get_vocab_size"],
        "limits": {
            "tokens_per_forward": f"1..{max_seq_len} (dynamic)",
            "cache_position": "consecutive start..start+T-1 with start+T <= max_seq_len "
                              "(else the call fails)",
            "kv_cache": "static, inside the program; a call overwrites positions start..start+T-1 and "
                        "attends to positions < start from earlier calls (rejected draft slots are "
                        "simply overwritten later)",
            "speculative_verify": "K drafted tokens need start+K+1 <= max_seq_len",
        },
        "prompt": prompt.template_info(tok),
        # Copy-speculation defaults this file was exported and checked with; the device bench
        # passes them to the runner, so a later change of core/decoding_defaults.json does not
        # silently change how an existing .pte is benched.
        "decoding": decoding.defaults(),
        "tokenizer": {"file": "tokenizer.json", "eos_token": tok.eos_token, "pad_token": tok.pad_token,
                      "bos_token": tok.bos_token},
        "source": src.describe(),
        "loadable_by": list(rec.loadable_by),
        "runtime_ops": list(rec.runtime_ops),
        "delegation": delegation,
        "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
        "size_mib": round(len(data) / 2**20, 3),
        "export_seconds": round(seconds, 2), "peak_export_rss_mb": round(peak_mb, 1),
        "versions": library_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def export_all(cfg: ExportConfig) -> list[dict]:
    """Every recipe of the config -> <out_dir>/<name>-<tag>.pte (+ metadata)."""
    from export.seqlen import resolve_eval_data

    for r in cfg.recipes:
        get_recipe(r).check_available()
    out_dir = check_outputs(cfg)  # minutes of lowering must not end in an unwritable folder
    src = resolve_source(cfg.model, cfg.base)
    eval_data = resolve_eval_data(cfg.eval_data)
    check_not_inputs(cfg, out_dir, src, eval_data)
    # decided once, before the recipes' processes: tokenizing the corpus takes a minute or two
    # (the tokenizer is loaded for it only when the trim is on or auto)
    trim = vocab_trim.plan(cfg.vocab_trim, cfg.vocab_corpus, cfg.vocab_min_count, src)
    jobs = [(src, r, out_dir / pte_name(cfg.name, r), cfg.max_seq_len, cfg.group_size, eval_data,
             cfg.attention, trim) for r in cfg.recipes]
    n_procs = cfg.jobs or parallel.auto_jobs(len(jobs), parallel.fp32_bytes(_weights_dir(src)))
    n_procs = min(n_procs, len(jobs))
    for job in jobs:
        print(f"[export] {job[1]} <- {src.path} -> {job[2]}", flush=True)
    if n_procs > 1:
        print(f"[export] {len(jobs)} recipes in {n_procs} processes", flush=True)
        metas = parallel.export_parallel(jobs, n_procs)
        for job, meta in zip(jobs, metas):
            _report(job[2], meta)
        return metas
    metas = []
    for job in jobs:  # one after the other: each reported as soon as it is written
        metas.append(export_model(*job[:6], attention=job[6], vocab_trim=job[7]))
        _report(job[2], metas[-1])
    return metas


def _report(out: Path, meta: dict) -> None:
    print(f"[export] wrote {out} ({meta['size_mib']} MiB, {meta['export_seconds']} s, "
          f"peak RSS {meta['peak_export_rss_mb']} MB)", flush=True)


def _weights_dir(src: Source) -> Path | None:
    """The folder whose safetensors size the model: the model, or a local base of an adapter."""
    if src.model_dir is not None:
        return src.model_dir
    return Path(src.base) if src.base and Path(src.base).is_dir() else None


def check_outputs(cfg: ExportConfig) -> Path:
    """out_dir and every file the export will write there, checked before any slow work."""
    out_dir = check_output_dir(output_path(cfg.out_dir), "out_dir")
    for r in cfg.recipes:
        pte = out_dir / pte_name(cfg.name, r)
        check_output_file(pte, "output")
        check_output_file(pte.with_suffix(".json"), "metadata")
    check_output_file(out_dir / "tokenizer.json", "tokenizer")
    return out_dir


def check_not_inputs(cfg: ExportConfig, out_dir: Path, src: Source, eval_data) -> None:
    """No file the export writes may be one it reads: out_dir inside the model (or adapter,
    tokenizer, local base) folder would replace its tokenizer.json, for one."""
    base = Path(src.base) if src.base and Path(src.base).is_dir() else None
    inputs = {"--model": src.model_dir, "the adapter": src.adapter_dir, "the tokenizer": src.tokenizer_dir,
              "base": base, "eval_data": eval_data}
    for r in cfg.recipes:
        pte = out_dir / pte_name(cfg.name, r)
        check_not_an_input(pte, "output", inputs)
        check_not_an_input(pte.with_suffix(".json"), "metadata", inputs)
    check_not_an_input(out_dir / "tokenizer.json", "tokenizer", inputs)


FLAGS = (
    Flag("--model", "model", "training run dir, merged model dir, or adapter dir"),
    Flag("--recipe", "recipes", "recipe name(s), comma-separated (e.g. xnnpack-int8,xnnpack-int4)",
         as_list=True),
)


def main(argv: list[str] | None = None) -> int:
    from export.recipes import recipe_names

    ap = stage_parser("python -m export.export_to_pte",
                      "Export a trained corrector to ExecuTorch .pte files.",
                      str(DEFAULT_CONFIG), FLAGS)
    ap.epilog = "recipes: " + ", ".join(recipe_names())
    args = ap.parse_args(argv)

    def body() -> int:
        export_all(load_config(ExportConfig, args.config, flag_overrides(args, FLAGS) + args.overrides))
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
