"""Per-error-type breakdown for parallel sets, the guard review lists, the few-shot prompt."""
from __future__ import annotations

from evaluation.eval_sets import derive_errors, edit_type
from evaluation.scoring import guard_review, review_markdown, score_outputs, summary_markdown


def test_parallel_pairs_get_typed_errors():
    errs = derive_errors("i tought it was teh best", "I thought it was the best", case_insensitive=True)
    assert [e["type"] for e in errs] == ["omission", "transposition"]
    assert [(e["wrong"], e["right"]) for e in errs] == [("tought", "thought"), ("teh", "the")]
    assert derive_errors("same text.", "same text.") == []  # a clean pair: the "none" group
    assert edit_type("", "the") == "missing word" and edit_type("the", "") == "extra word"
    assert edit_type("end", "end.") == "punctuation" and edit_type("some times", "sometimes") == "merge"


def test_review_ranks_what_the_guard_let_through_and_blocked():
    inputs = ["I tought so", "the cat sat", "she is hapy", "becos it is late"]
    refs = ["I thought so", "the cat sat", "she is happy", "because it is late"]
    raw = ["I thought so", "the cut sat", "She is happy! I hope this helps.", "because it is late"]
    scored = score_outputs(inputs, refs, raw, case_insensitive=True)
    review = guard_review(scored["rows"], case_insensitive=True)
    # "cat" -> "cut" is a bounded 1:1 edit the guard accepts: it broke a right word, so it
    # ranks first; the kept "!" is an edit the reference lacks, listed after it
    assert [it["input"] for it in review["let_through"]] == ["the cat sat", "she is hapy"]
    assert [it["broke"] for it in review["let_through"]] == [1, 0]
    # "becos" -> "because" needs three edits, over a 5-letter word's budget: a right fix blocked
    assert review["blocked"] == [{"input": "becos it is late", "reference": "because it is late",
                                  "raw_output": "because it is late",
                                  "guarded_output": "becos it is late", "fixes_lost": 1}]
    text = "\n".join(review_markdown("toy / hf", review))
    assert "worst changes the guard let through" in text and "the cut sat" in text


def test_summary_has_a_per_type_table():
    inputs, refs = ["i tought so", "teh end"], ["I thought so", "the end"]
    errors = [derive_errors(a, b, True) for a, b in zip(inputs, refs)]
    scored = score_outputs(inputs, refs, refs, True, None, errors)
    entry = {"n": 2, "case_insensitive": True, "backends": {"hf": scored}}
    md = summary_markdown({"model": "m", "benchmarks": {"toy": entry}})
    assert "| omission | 1 | 1.000 (0.000) |" in md and "| transposition | 1 |" in md


def test_few_shot_prompt_only_adds_examples():
    from core.prompt import FEW_SHOT, build_prompt

    class Plain:  # a tokenizer without a chat template takes the plain prompt
        chat_template = None
        bos_token = ""

    zero, two = build_prompt(Plain(), "hello wrld"), build_prompt(Plain(), "hello wrld", few_shot=2)
    assert FEW_SHOT[0][1] not in zero and FEW_SHOT[0][1] in two and FEW_SHOT[1][1] in two
    assert two.endswith(zero.split("\n\n", 1)[1])  # the real question comes last, unchanged
