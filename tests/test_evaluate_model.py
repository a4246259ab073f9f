"""The full corrector (the trained tiny model + the guard) end to end: it never
paraphrases clean sentences and never alters numbers, URLs or e-mails; blank and
over-long inputs; the CLI on a run directory; the GPU bench script's smoke mode."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.spans import protected_strings
from evaluation.correctors import make_corrector, split_to_fit
from evaluation.guard import guard
from tests.fixtures.base import REPO
from tests.test_guard import is_correction

pytestmark = pytest.mark.integration

CLEAN = [
    "The meeting starts at 10:45 in room 12.",
    "Please send the report to anna.smith@example.com by Friday.",
    "You can read the whole story at https://example.org/news/2024.",
    "We bought 3 apples and 2 pears for $4.50.",
    "She said that the weather would be fine tomorrow.",
    "My brother lives in a small house near the river.",
    "I think we should leave before it gets dark.",
    "The train was 15 minutes late this morning.",
    "Call me at 555-0199 if you need anything.",
    "They have been friends since 1998.",
    "It is not what I wanted, but it will do.",
    "Visit www.python.org for the documentation.",
]


@pytest.fixture(scope="session")
def corrector(tiny_run):
    return make_corrector("hf", str(tiny_run / "merged"), batch_size=8, device="cpu")


def _check_clean(x: str, raw: str) -> None:
    g = guard(x, raw)
    assert is_correction(x, g), (x, raw, g)
    assert protected_strings(g) == protected_strings(x), (x, raw, g)


def test_clean_sentences_are_never_paraphrased(corrector):
    raws = corrector.correct(CLEAN)
    for x, raw in zip(CLEAN, raws):
        _check_clean(x, raw)


WORDS = "the a we they she my our old new small big house river train book friend said went saw likes".split()
PROTECTED = st.one_of(st.integers(0, 99999).map(str), st.sampled_from(
    ["10:45", "$3.50", "12%", "https://example.com/a/b", "www.test.org", "bob@mail.example.net", "2024"]))


@st.composite
def clean_sentence(draw):
    words = draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=10))
    k = draw(st.integers(0, len(words)))
    words.insert(k, draw(PROTECTED))
    return (" ".join(words)).capitalize() + draw(st.sampled_from([".", "!", "?"]))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(clean_sentence(), min_size=1, max_size=4))
def test_full_corrector_property(corrector, sentences):
    for x, raw in zip(sentences, corrector.correct(sentences)):
        _check_clean(x, raw)
        for s in protected_strings(x):
            assert s in guard(x, raw)


def test_blank_and_long_inputs(tiny_run):
    c = make_corrector("hf", str(tiny_run / "merged"), batch_size=1, device="cpu")
    assert c.correct(["", "   ", "\n"]) == ["", "   ", "\n"]
    c.max_len = 110  # a small context: the long text must be split by sentence, not truncated
    long = ("My brother lives in a small house. We went to the river on Sunday. "
            "The train was late again today.")
    plan = split_to_fit(long, c._fits)
    assert len(plan) > 1 and "".join(p + s for p, s in plan) == long
    expected = "".join(c.correct([p])[0] + s for p, s in plan)
    assert c.correct([long]) == [expected]


def test_cli_on_a_run_dir(tiny_run, tiny_pairs, tmp_path):
    from evaluation.run import main

    assert main(["--model", str(tiny_run), "--benchmarks", str(tiny_pairs / "eval_data.json"),
                 "--backends", "hf,identity", "--limit", "40", "--run", "m", "own_pairs=",
                 f"runs_root={tmp_path}", f"root_copy={tmp_path / 'root'}"]) == 0
    report = json.loads((tmp_path / "root" / "metrics.json").read_text())
    assert report["model"] == str(tiny_run / "merged")
    res = report["benchmarks"]["eval_data"]["backends"]
    hf, ident = res["hf"]["guarded"], res["identity"]["guarded"]
    assert hf["n"] == 40 and res["hf"]["sentences_per_s"] > 0
    assert "by_error_type" in hf and "none" in hf["by_error_type"]  # the clean pairs
    # the trained tiny model fixes some typos; the guard keeps it from doing harm
    assert hf["correction_rate"] > 0.0
    assert hf["cer_after"] <= res["hf"]["raw"]["cer_after"] + 1e-9 or hf["paraphrase_rate"] == 0
    assert ident["correction_rate"] == 0.0


def test_gpu_bench_script_smoke():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "bench_eval.py"), "gpu", "--smoke"],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert set(out["modes"]) == {"plain", "sorted", "sorted_static", "sorted_static_big"}
    for name, mode in out["modes"].items():
        assert "error" not in mode, (name, mode)
        assert mode["agreement_vs_plain"] == 1.0 and mode["new_tokens_per_s"] > 0
    assert out["useful_new_tokens"] > out["sentences"]


def test_static_cache_matches_dynamic(tiny_base):
    """The static-cache path (used on GPU) generates exactly what the dynamic one does."""
    texts = ["I tought so.", "A longer sentence with a few more words in it, and a number: 42."]
    dyn = make_corrector("hf", str(tiny_base), batch_size=2, device="cpu", static_cache=False)
    sta = make_corrector("hf", str(tiny_base), batch_size=2, device="cpu", static_cache=True)
    assert dyn.correct(texts) == sta.correct(texts)
