"""Evaluation: score_outputs (the bench's entry point), the CLI end to end on small
benchmarks with the real baselines, resuming, bad input, and the correctors."""
from __future__ import annotations

import csv
import json

import pytest

from core.config import ConfigError
from evaluation.correctors import (
    BACKENDS,
    CorrectorError,
    IdentityCorrector,
    make_corrector,
    register_backend,
    split_to_fit,
)
from evaluation.run import main, resolve_model
from evaluation.scoring import CSV_COLUMNS, score_outputs


def test_score_outputs_contract():
    inputs = ["i tought so", "the cat sat", "wich one"]
    refs = ["i thought so", "the cat sat", "which one"]
    raw = ["i thought so", "Sure! Here it is: the kitten sat", "which one"]
    s = score_outputs(inputs, refs, raw)
    assert set(s) == {"guarded", "raw", "rows"}
    assert [r["guarded_output"] for r in s["rows"]] == ["i thought so", "the cat sat", "which one"]
    assert [r["paraphrased"] for r in s["rows"]] == [False, True, False]
    assert s["guarded"]["exact_match"] == 1.0 and s["raw"]["exact_match"] == pytest.approx(2 / 3)
    assert s["guarded"]["paraphrase_rate"] == pytest.approx(1 / 3)
    assert s["rows"][0]["edits"] == "tought->thought" and s["rows"][0]["correct"] is True
    assert not s["rows"][1]["raw_correct"]
    ci = score_outputs(["I tought so"], ["i thought so"], ["I thought so"], case_insensitive=True)
    assert ci["guarded"]["exact_match"] == 1.0 and ci["rows"][0]["correct"]
    urls = score_outputs(["see www.x.com at 9:30", "see www.x.com"],
                         ["See www.x.com at 9:30.", "See www.x.com."],
                         ["See www.x.org at 9:31.", "See www.x.com."])
    assert (urls["raw"]["protected_changed"], urls["guarded"]["protected_changed"]) == (1, 0)
    with pytest.raises(ValueError, match="2 inputs, 2 references, 1 outputs"):
        score_outputs(["a", "b"], ["a", "b"], ["a"])


def _bench(tmp_path):
    d = tmp_path / "eval" / "neuspell-bea5"
    d.mkdir(parents=True, exist_ok=True)
    (d / "corrupt.txt").write_text("i tought so\nwe go home becouse it rains\nthe cat sat\n"
                                   "she recieved 12 letters\nit is definately fine\n")
    (d / "correct.txt").write_text("i thought so\nwe go home because it rains\nthe cat sat\n"
                                   "she received 12 letters\nit is definitely fine\n")
    pairs = tmp_path / "pairs.json"
    pairs.write_text("\n".join(json.dumps(p) for p in [
        {"input": "Teh cat sat .", "output": "The cat sat.", "errors": ["transposition"]},
        {"input": "All fine here.", "output": "All fine here.", "errors": []}]) + "\n")
    return tmp_path / "eval", pairs


def _run(tmp_path, *extra):
    return main(["--benchmarks", ",".join(map(str, _bench(tmp_path))), "--run", "t",
                 f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}", "own_pairs=", *extra])


def test_cli_baselines_end_to_end(tmp_path, capsys):
    assert _run(tmp_path, "--backends", "identity,symspell,pyspellchecker") == 0
    run = tmp_path / "runs" / "eval" / "t"
    report = json.loads((run / "metrics.json").read_text())
    assert report == json.loads((tmp_path / "root" / "metrics.json").read_text())
    bea = report["benchmarks"]["neuspell-bea5"]
    assert bea["n"] == 5 and bea["case_insensitive"] is True
    assert set(bea["backends"]) == {"identity", "symspell", "pyspellchecker"}
    assert bea["backends"]["identity"]["guarded"]["correction_rate"] == 0.0
    assert bea["backends"]["pyspellchecker"]["guarded"]["correction_rate"] > 0.5
    assert "by_error_type" in report["benchmarks"]["pairs"]["backends"]["identity"]["raw"]
    rows = list(csv.DictReader((tmp_path / "root" / "model_test_results.csv").open()))
    assert len(rows) == 3 * 7 and list(rows[0]) == CSV_COLUMNS
    assert {r["benchmark"] for r in rows} == {"neuspell-bea5", "pairs"}
    summary = (run / "summary.md").read_text()
    assert "| metric | identity | symspell | pyspellchecker |" in summary
    assert (run / "config.yaml").exists() and (run / "env.json").exists()
    assert "wrote" in capsys.readouterr().out


def test_cli_resumes_from_cached_outputs(tmp_path):
    assert _run(tmp_path, "--backends", "identity", "--limit", "2") == 0
    cache = tmp_path / "runs" / "eval" / "t" / "outputs" / "neuspell-bea5__identity.jsonl"
    lines = cache.read_text().splitlines()
    assert len(lines) == 2
    # A finished chunk is not recomputed: edit it and the rerun reports the edited output.
    first = json.loads(lines[0]) | {"output": "i thought so"}
    cache.write_text(json.dumps(first) + "\n" + lines[1] + "\n{broken")
    assert _run(tmp_path, "--backends", "identity", "--limit", "3") == 0
    rows = list(csv.DictReader((tmp_path / "root" / "model_test_results.csv").open()))
    assert rows[0]["raw_output"] == "i thought so" and rows[0]["correct"] == "True"
    assert len(cache.read_text().splitlines()) == 3


def test_cli_bad_input(tmp_path, capsys):
    assert main(["--benchmarks", str(tmp_path / "absent"), "--backends", "identity",
                 f"runs_root={tmp_path}"]) == 2
    assert "benchmark not found" in capsys.readouterr().err
    assert _run(tmp_path, "--backends", "nope") == 2
    assert "unknown backend 'nope'" in capsys.readouterr().err
    assert _run(tmp_path, "--backends", "hf", "--model", str(tmp_path / "missing")) == 2
    assert "not found" in capsys.readouterr().err
    assert _run(tmp_path, "guard.max_edit_ratio=3") == 2
    assert "max_edit_ratio" in capsys.readouterr().err


def test_resolve_model(tmp_path, monkeypatch):
    import core.loading

    monkeypatch.setattr(core.loading, "hub_loadable", lambda name: True)
    assert resolve_model("tiny") == "builtin:tiny"
    (tmp_path / "run" / "merged").mkdir(parents=True)
    (tmp_path / "run" / "merged" / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path / "run")) == str(tmp_path / "run" / "merged")
    assert resolve_model(str(tmp_path / "run" / "merged")) == str(tmp_path / "run" / "merged")
    assert resolve_model("smollm2-135m") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(ConfigError, match="neither config.json"):
        resolve_model(str(tmp_path))


class Upper:
    name = "upper"

    def correct(self, texts):
        return [t.upper() for t in texts]


def make_upper(model=None, **options):
    return Upper()


def test_registry_and_plugins():
    register_backend("upper", make_upper)
    try:
        assert make_corrector("upper").correct(["ab"]) == ["AB"]
    finally:
        BACKENDS.pop("upper")
    assert make_corrector("tests.test_evaluate:make_upper").correct(["x"]) == ["X"]
    assert isinstance(make_corrector("identity"), IdentityCorrector)
    with pytest.raises(CorrectorError, match="needs a model folder"):
        make_corrector("hf")
    with pytest.raises(CorrectorError, match="needs a .pte"):  # export/corrector.py registers it on demand
        make_corrector("pte")


@pytest.mark.parametrize("backend", ["identity", "symspell", "pyspellchecker"])
def test_baselines_keep_blank_and_protected_text(backend):
    c = make_corrector(backend)
    texts = ["", "   ", "Mail bob@exmaple.org at 10:45pm about https://exmaple.com/x?y=1 now"]
    out = c.correct(texts)
    assert out[:2] == ["", "   "]
    for s in ("bob@exmaple.org", "10:45pm", "https://exmaple.com/x?y=1"):
        assert s in out[2]


def test_spell_baselines_fix_typos_and_keep_punctuation():
    assert make_corrector("pyspellchecker").correct(["I tought, becouse Wakh!"]) == \
        ["I thought, because Wake!"]
    assert make_corrector("symspell").correct(["i tought you understood; please"]) == \
        ["i thought you understood; please"]


def test_split_to_fit_never_truncates():
    text = "One two. Three four five six seven. Eight!  Nine ten."
    chunks = split_to_fit(text, lambda t: len(t) <= 14)
    assert "".join(p + s for p, s in chunks) == text
    assert all(len(p) <= 14 for p, _ in chunks)
    assert split_to_fit("short", lambda t: True) == [("short", "")]
    with pytest.raises(CorrectorError, match="single word"):
        split_to_fit("x" * 50, lambda t: len(t) < 10)


def test_same_named_benchmarks_stay_apart(tmp_path):
    a, b = tmp_path / "a" / "eval_data.json", tmp_path / "b" / "eval_data.json"
    for f, out in ((a, "one"), (b, "two")):
        f.parent.mkdir()
        f.write_text(json.dumps({"input": out, "output": out}) + "\n")
    assert main(["--benchmarks", f"{a},{b}", "--backends", "identity", "--run", "t", "own_pairs=",
                 f"runs_root={tmp_path / 'runs'}", f"root_copy={tmp_path / 'root'}"]) == 0
    report = json.loads((tmp_path / "root" / "metrics.json").read_text())
    assert sorted(report["benchmarks"]) == ["a-eval_data-0", "b-eval_data-1"]
    assert all(e["backends"]["identity"]["guarded"]["exact_match"] == 1.0
               for e in report["benchmarks"].values())
