"""Scoring per class (spelling, case, punctuation) and by what a set's references fix."""
from __future__ import annotations

import json

import pytest

from evaluation.eval_sets import BenchmarkError, load_benchmark, read_parallel
from evaluation.metrics import class_counts, compute_metrics, pieces, spelling_view
from evaluation.scoring import score_outputs, summary_markdown

README = ("hello how are you? ia amfi ne thank you", "Hello, how are you? I am fine, thank you.")


def test_pieces_split_words_from_their_punctuation():
    assert pieces('"ok," she said - fine :)') == [('"', "ok", ',"'), ("", "she", ""), ("", "said", " -"),
                                                  ("", "fine", " :)")]
    assert spelling_view("Hello, how are you? I'm FINE.") == "hello how are you i'm fine"


def test_the_readme_example_counts_every_class():
    c = class_counts(*README, README[1])
    assert c["spelling"] == {"wrong": 3, "corrected": 3, "in_ok": 6, "over": 0}
    assert c["case"] == {"wrong": 2, "corrected": 2, "in_ok": 7, "over": 0}  # hello, i (ia -> I)
    assert c["punctuation"] == {"wrong": 3, "corrected": 3, "in_ok": 6, "over": 0}  # hello, fine, you
    untouched = class_counts(*README, README[0])
    assert [untouched[k]["corrected"] for k in ("spelling", "case", "punctuation")] == [0, 0, 0]


def test_case_of_a_misspelled_word_is_judged_by_its_shape():
    c = class_counts("im here", "I'm here.", "I'm here.")
    assert c["case"]["wrong"] == 1 and c["case"]["corrected"] == 1
    assert c["punctuation"] == {"wrong": 1, "corrected": 1, "in_ok": 1, "over": 0}


def test_added_capitals_and_commas_are_over_correction_of_their_class_only():
    c = class_counts("I think so.", "I think so.", "i think, so")
    assert c["spelling"]["over"] == 0
    assert c["case"]["over"] == 1 and c["punctuation"]["over"] == 2


def test_spelling_only_sets_score_the_headline_on_spelling():
    inputs, refs = ["i beleive it is true"], ["i believe it is true"]
    outs = ["I believe it is true."]  # right spelling, plus a capital and a full stop the set does not want
    full = compute_metrics(inputs, refs, outs)
    spell = compute_metrics(inputs, refs, outs, fixes=("spelling",))
    assert full["exact_match"] == 0 and full["over_correction_rate"] > 0
    assert spell["exact_match"] == 1 and spell["over_correction_rate"] == 0 and spell["f0_5"] == 1
    assert spell["exact_match_full"] == 0
    assert spell["classes"]["case"]["over"] == 1 and spell["classes"]["punctuation"]["over"] == 1


def test_unknown_class_is_refused():
    with pytest.raises(ValueError, match="fixes"):
        compute_metrics(["a"], ["a"], ["a"], fixes=("grammar",))


def _folder(tmp_path, meta=None, name="set"):
    d = tmp_path / name
    d.mkdir()
    (d / "corrupt.txt").write_text(README[0] + "\n", encoding="utf-8")
    (d / "correct.txt").write_text(README[1] + "\n", encoding="utf-8")
    if meta is not None:
        (d / "set.json").write_text(json.dumps(meta), encoding="utf-8")
    return d


def test_a_set_declares_what_its_references_fix(tmp_path):
    assert read_parallel(_folder(tmp_path, None, "plain")).fixes == ("spelling",)
    full = read_parallel(_folder(tmp_path, {"fixes": ["spelling", "case", "punctuation"]}, "full"))
    assert full.fixes == ("spelling", "case", "punctuation") and full.head(1).fixes == full.fixes


@pytest.mark.parametrize("meta, field", [
    ({"fixes": ["grammar"]}, "fixes"), ({"fixes": []}, "fixes"), ({"fixes": ["case"]}, "fixes"),
    ({"fixes": ["spelling"], "colour": 1}, "keys"), ({"case_insensitive": "yes"}, "case_insensitive"),
])
def test_bad_set_json_is_named(tmp_path, meta, field):
    d = _folder(tmp_path, meta)
    with pytest.raises(BenchmarkError, match=f"set.json.*{field}"):
        load_benchmark(d)


def test_a_bom_is_not_a_typo(tmp_path):
    d = _folder(tmp_path, {"fixes": ["spelling", "case", "punctuation"]})
    (d / "corrupt.txt").write_text("\ufeffI am here.\n", encoding="utf-8")
    (d / "correct.txt").write_text("\ufeffI am here.\n", encoding="utf-8")
    b = load_benchmark(d)
    assert b.pairs[0].input == "I am here." and not b.pairs[0].errors


def test_summary_and_rows_show_the_split():
    scored = score_outputs([README[0]], [README[1]], [README[1]])
    assert scored["rows"][0]["spelling"] == "3/3 +0" and scored["rows"][0]["punctuation"] == "3/3 +0"
    report = {"model": "m", "benchmarks": {"messages": {
        "n": 1, "case_insensitive": False, "fixes": ["spelling", "case", "punctuation"],
        "backends": {"hf": {"guarded": scored["guarded"], "raw": scored["raw"]}}}}}
    md = summary_markdown(report)
    assert "| punctuation | 1.000 (0.000) |" in md and "| exact match, full text | 1.000 |" in md
