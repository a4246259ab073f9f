"""`gguf:` base models, fast tier: bad specs are one clear error naming what is wrong, and
nothing is left behind (the real models load in tests/test_real_models.py)."""
from __future__ import annotations

import pytest

from core.gguf import CACHE, ensure_dequantized
from core.loading import ModelLoadError
from core.paths import output_path


def test_missing_file_and_unknown_package_are_named(tmp_path):
    with pytest.raises(ModelLoadError, match="nope.gguf: no such GGUF file"):
        ensure_dequantized(f"gguf:{tmp_path / 'nope.gguf'}")
    with pytest.raises(ModelLoadError, match="no-such-gguf-package.*make offline-models"):
        ensure_dequantized("gguf:no-such-gguf-package")


def test_a_file_that_is_not_gguf_fails_cleanly_and_writes_nothing(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    before = set(output_path(CACHE).glob("*broken*")) if output_path(CACHE).exists() else set()
    with pytest.raises(ModelLoadError, match="broken.gguf"):
        ensure_dequantized(f"gguf:{bad}")
    assert (set(output_path(CACHE).glob("*broken*")) if output_path(CACHE).exists() else set()) == before
