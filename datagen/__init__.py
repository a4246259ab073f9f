"""Training data: noise model, text sources and the dataset builder (`make data`).

    python -m datagen [--corpus PATH|hf:NAME|everyday|python] [--run NAME] [key=value ...]
"""
from datagen.config import DataConfig, SourceConfig
from datagen.noise import NoiseConfig, Noiser
from datagen.sources import DataError
from datagen.text import CleanConfig

__all__ = ["DataConfig", "SourceConfig", "NoiseConfig", "CleanConfig", "Noiser", "DataError",
           "build_dataset", "load_pairs"]


def build_dataset(cfg: DataConfig) -> dict:
    from datagen.build import build_dataset as _build

    return _build(cfg)


def load_pairs(path) -> list[dict]:
    """Read a pairs file written by the builder (JSON Lines), e.g. data/train_data.json."""
    import json
    from pathlib import Path

    rows = []
    with open(Path(path), encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{no}: not valid JSON ({exc.msg})") from None
    return rows
