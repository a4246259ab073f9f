"""Protected spans (core/spans.py): what they cover, and that hostile runs are read as
runs (a match may start only where its run starts; bench.bench_guard times the runs)."""
from __future__ import annotations

import pytest

from core.spans import protected_strings


@pytest.mark.parametrize("text, spans", [
    ("mail john.doe@example.com now", ["john.doe@example.com"]),
    ("v1.5 costs $3,000.50 or 20%", ["1.5", "$3,000.50", "20%"]),
    ("at 10:45pm, then 7:30", ["10:45pm", "7:30"]),
    ("a time of 1:57.28 and Revelation 17:12,13", ["1:57.28", "17:12,13"]),
    ("speed \\frac 1 .4575 2.186", ["1", "4575", "2.186"]),
    ("see `git pull` and https://example.com/a?b=1.", ["`git pull`", "https://example.com/a?b=1"]),
])
def test_spans(text, spans):
    assert protected_strings(text) == spans


def test_long_runs_are_single_spans_or_none():
    assert protected_strings("a." * 5000) == []
    assert protected_strings("1," * 5000) == ["1," * 4999 + "1"]
    assert protected_strings("x" * 5000 + "@example.com") == ["x" * 5000 + "@example.com"]
