"""Every metric on hand-computed cases."""
from __future__ import annotations

import pytest

from evaluation.metrics import compute_metrics, format_edits, sample_counts, word_edits

FIX = ("i tought so", "i thought so", "i thought so")      # one error, fixed
OVER = ("the cat sat", "the cat sat", "the bat sat")       # clean input, one word broken
HALF = ("a b c d", "a B c D", "a B c x")                   # two errors, one fixed, one wrong fix


def metrics(*triples, **kw):
    return compute_metrics(*map(list, zip(*triples)), **kw)


def test_one_fixed_error():
    m = metrics(FIX)
    assert m["exact_match"] == 1.0 and m["word_accuracy"] == 1.0
    assert m["word_accuracy_before"] == pytest.approx(2 / 3)
    assert m["correction_rate"] == 1.0 and m["over_correction_rate"] == 0.0
    assert (m["precision"], m["recall"], m["f0_5"]) == (1.0, 1.0, 1.0)
    assert m["cer_before"] == pytest.approx(1 / 12) and m["cer_after"] == 0.0
    assert m["changed_rate"] == 1.0


def test_over_correction():
    m = metrics(OVER)
    assert m["exact_match"] == 0.0
    assert m["word_accuracy"] == pytest.approx(2 / 3)
    assert m["correction_rate"] is None  # nothing was wrong
    assert m["over_correction_rate"] == pytest.approx(1 / 3)
    assert m["precision"] == 0.0 and m["recall"] == 1.0 and m["f0_5"] == 0.0
    assert m["cer_before"] == 0.0 and m["cer_after"] == pytest.approx(1 / 11)


def test_partial_fix_precision_recall():
    m = metrics(HALF)
    assert m["correction_rate"] == 0.5
    assert m["over_correction_rate"] == 0.0
    assert (m["precision"], m["recall"], m["f0_5"]) == (0.5, 0.5, 0.5)
    assert (m["gold_edits"], m["proposed_edits"], m["true_positives"]) == (2, 2, 1)


def test_corpus_level_micro_averages():
    m = metrics(FIX, OVER)
    assert m["n"] == 2 and m["exact_match"] == 0.5
    assert m["word_accuracy"] == pytest.approx(5 / 6)
    assert m["over_correction_rate"] == pytest.approx(1 / 5)
    assert m["precision"] == 0.5 and m["recall"] == 1.0
    assert m["f0_5"] == pytest.approx(1.25 * 0.5 / (0.25 * 0.5 + 1.0))
    assert m["cer_before"] == pytest.approx(1 / 23) and m["cer_after"] == pytest.approx(1 / 23)


def test_identity_output_scores_nothing():
    m = metrics(("i tought so", "i thought so", "i tought so"))
    assert m["correction_rate"] == 0.0 and m["recall"] == 0.0
    assert m["precision"] == 1.0  # ERRANT convention: no proposed edits
    assert m["f0_5"] == 0.0 and m["cer_after"] == m["cer_before"]
    assert m["changed_rate"] == 0.0


def test_case_insensitive_variant():
    t = ("I tought so", "i thought so", "I thought so")
    assert metrics(t)["exact_match"] == 0.0
    assert metrics(t)["word_accuracy"] == pytest.approx(2 / 3)
    ci = metrics(t, case_insensitive=True)
    assert ci["exact_match"] == 1.0 and ci["word_accuracy"] == 1.0 and ci["case_insensitive"] is True


def test_whitespace_is_normalised():
    assert metrics(("a  b", "a b", " a b\n"))["exact_match"] == 1.0


def test_merge_and_split_edits():
    assert word_edits(["some", "times"], ["sometimes"]) == {(0, 2, ("sometimes",))}
    assert word_edits(["alot"], ["a", "lot"]) == {(0, 1, ("a", "lot"))}
    m = metrics(("we go some times", "we go sometimes", "we go sometimes"))
    assert (m["precision"], m["recall"], m["exact_match"]) == (1.0, 1.0, 1.0)


def test_insert_and_delete_edits_are_formatted():
    src = "the the cat".split()
    edits = word_edits(src, "the cat sat".split())
    assert format_edits(src, edits) == "-the; +sat"
    assert format_edits(["tought"], word_edits(["tought"], ["thought"])) == "tought->thought"


def test_paraphrase_rate_and_error_types():
    m = metrics(FIX, OVER, HALF, paraphrased=[True, False, False],
                errors=[["typo"], None, [{"type": "case"}, {"type": "typo"}]])
    assert m["paraphrase_rate"] == pytest.approx(1 / 3)
    by = m["by_error_type"]
    assert set(by) == {"case", "typo"}
    assert by["typo"]["n"] == 2 and by["case"]["n"] == 1
    assert by["typo"]["correction_rate"] == pytest.approx(2 / 3)  # FIX 1/1 + HALF 1/2
    assert by["case"]["exact_match"] == 0.0
    assert "by_error_type" not in metrics(FIX, errors=[None])
    assert metrics(OVER, errors=[[]])["by_error_type"]["none"]["over_correction_rate"] == pytest.approx(1 / 3)


def test_empty_corpus_and_bad_lengths():
    m = compute_metrics([], [], [])
    assert m["n"] == 0 and m["exact_match"] is None and m["word_accuracy"] is None
    with pytest.raises(ValueError, match="differ in length"):
        compute_metrics(["a"], ["a"], [])


def test_sample_counts_are_integers():
    c = sample_counts(*HALF)
    assert c["wrong"] == 2 and c["corrected"] == 1 and c["tp"] == 1
    assert all(isinstance(v, int) for v in c.values())
