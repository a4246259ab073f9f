"""Every shipped YAML config loads and validates against its typed dataclass, and opens
with a comment giving the command that runs it."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from core.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
# glob (relative to the repo) -> "module:Class"; every shipped YAML must match one.
KINDS = {
    "core/configs/tiny_model.yaml": "core.tiny:TinyModelConfig",
    "bench/configs/*.yaml": "bench.bakeoff:BakeoffConfig",
    "datagen/configs/*.yaml": "datagen.config:DataConfig",
    "evaluation/configs/*.yaml": "evaluation.config:EvalConfig",
    "export/configs/*.yaml": "export.config:ExportConfig",
    "device_bench/configs/*.yaml": "device_bench.config:BenchConfig",
    "train/configs/*.yaml": "train.config:TrainConfig",
}
SHIPPED = sorted(p for p in REPO.glob("*/**/*.y*ml") if ".venv" not in p.parts and "runs" not in p.parts
                 and p.suffix in {".yaml", ".yml"} and "configs" in p.parts)


def _kind(path: Path) -> type:
    rel = path.relative_to(REPO)
    for pattern, target in KINDS.items():
        if rel.match(pattern) and len(rel.parts) == len(Path(pattern).parts):
            module, cls = target.split(":")
            return getattr(importlib.import_module(module), cls)
    raise LookupError(f"{rel}: no config class registered in tests/test_configs.py KINDS")


def test_configs_are_found():
    assert len(SHIPPED) >= 10


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_loads_and_validates(path):
    cfg = load_config(_kind(path), path)
    assert cfg is not None
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and ("python -m" in first or first.startswith("# make ")), first


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_config_rejects_unknown_keys(path):
    with pytest.raises(ConfigError, match="allowed keys"):
        load_config(_kind(path), path, ["no_such_key=1"])
