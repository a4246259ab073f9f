"""Every run's env.json names its machine: the CPU model and the vector extensions its timings
depend on (a figure without its machine cannot be compared)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.runs import env_info


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="no /proc/cpuinfo on this OS")
def test_env_names_the_cpu_and_its_extensions():
    machine = env_info(3)["machine"]
    fields = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    assert machine["cpu_model"] == fields.get("model name", "")  # e.g. "AMD EPYC", "Intel(R) Xeon(R) ..."
    assert set(machine["cpu_features"]) == flags & {"avx2", "avx512f", "avx512_vnni", "amx_tile", "amx_int8"}
    assert 0 < machine["memory_gb"] < 1 << 16
    assert machine["cpu_count"] >= 1 and sys.platform.startswith("linux")
