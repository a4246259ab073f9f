"""The dictionary pass (evaluation/dictpass.py): candidates from the real SymSpell dictionary,
the edit prior, the margin rule, the real misspelling lists, the batched scorer of the tiny
model against one forward per candidate, and the pass end to end (guard has the last word)."""
from __future__ import annotations

import math

import pytest

from core.config import ConfigError, load_config
from core.spans import protected_strings
from evaluation import dictpass
from evaluation.config import DEFAULT_CONFIG, EvalConfig
from evaluation.dictpass import (
    Candidate,
    DictConfig,
    DictionaryPass,
    DictPassError,
    edit_cost,
    hf_scorer,
    pick,
    reference_score,
    targets,
)
from evaluation.guard import guard

CFG = DictConfig()


def texts(tokens: list[str], k: int, cfg: DictConfig = CFG) -> list[str]:
    return [c.text for c in dictpass.candidates(tokens, k, cfg)]


# ---------------------------------------------------------------- candidates (real SymSpell)
@pytest.mark.parametrize("typed, meant", [
    ("thnaks", "thanks"), ("batery", "battery"), ("moive", "movie"), ("programer", "programmer"),
    ("agian", "again"), ("recieve", "receive"), ("becuase", "because")])
def test_symspell_proposes_the_meant_word(typed, meant):
    assert meant in texts([typed, "now"], 0)


def test_splits_merges_and_apostrophes():
    assert "a lot" in texts(["alot", "of", "fun"], 0)
    assert "thank you" in texts(["thankyou"], 0)
    merged = [c for c in dictpass.candidates(["see", "you", "tomor", "row"], 2, CFG) if c.text == "tomorrow"]
    assert merged and (merged[0].start, merged[0].end) == (2, 4)
    assert "don't" in texts(["dont", "go"], 0)
    # a split needs two common words: "th" + "naks" is none
    assert not any(" " in t for t in texts(["thnaks"], 0))


def test_candidates_are_capped_and_best_prior_first():
    cs = dictpass.candidates(["thnaks"], 0, DictConfig(max_candidates=3))
    assert len(cs) == 3 and cs[0].text == "thanks"


def test_edit_prior_prices_keyboard_slips_lower():
    assert edit_cost("batery", "battery") < edit_cost("bettery", "battery")  # a double typed once
    assert edit_cost("thsnks", "thanks") < edit_cost("thpnks", "thanks")    # s is next to a, p is not
    assert edit_cost("thnaks", "thanks") == 0.75                            # a swap
    assert edit_cost("alot", "a lot") == 0.5 and edit_cost("dont", "don't") == 0.25
    assert edit_cost("same", "same") == 0.0


# ---------------------------------------------------------------- where the pass looks
def test_targets_skip_protected_names_abbreviations_and_known_words():
    out = "Thnaks Jhon, see www.exmaple.com at 10:30 pls, the batery is ok"
    toks = out.split()
    found = [toks[k] for k in targets(out, out, out, CFG)]
    assert found == ["Thnaks", "batery"]  # opens the sentence; Jhon is a name the user wrote


def test_targets_include_words_whose_change_the_guard_refused():
    inp = "the form is here"
    raw = "the xylophone is here"  # a change the guard refuses: "form" is known, yet looked at
    assert targets(inp, raw, guard(inp, raw), CFG) == [1]
    assert targets(inp, raw, guard(inp, raw), DictConfig(refused_words=False)) == []


# ---------------------------------------------------------------- the margin rule
def test_margin_rule():
    a, b = Candidate(0, 1, "thanks", 0.0), Candidate(0, 1, "thank", 0.0)
    cfg = DictConfig(margin=2.0, tie_margin=0.5)
    assert pick(-10.0, [(-7.0, a), (-9.0, b)], cfg) is a        # wins by 3 over keeping, 2 over b
    assert pick(-10.0, [(-8.5, a), (-12.0, b)], cfg) is None    # only 1.5 over keeping the word
    assert pick(-10.0, [(-7.0, a), (-7.2, b)], cfg) is None     # a tie: the context cannot tell
    assert pick(-10.0, [], cfg) is None
    assert pick(-10.0, [(-10.0, a)], DictConfig(margin=0.0)) is a


# ---------------------------------------------------------------- lists and config
def test_real_misspelling_lists(shared_data):
    pairs = dictpass.misspelling_pairs(str(shared_data / "misspellings"))
    assert ("agian", "again") in pairs and len(pairs) > 30_000
    plain = {c.text: c.prior for c in dictpass.candidates(["agian"], 0, CFG, frozenset())}
    listed = {c.text: c.prior for c in dictpass.candidates(["agian"], 0, CFG, pairs)}
    assert listed["again"] == pytest.approx(plain["again"] + CFG.list_bonus)


def test_missing_lists_are_named(tmp_path):
    with pytest.raises(DictPassError, match="not found"):
        dictpass.misspelling_pairs(str(tmp_path / "nowhere"))
    (tmp_path / "notes.txt").write_text("nothing here\n")
    with pytest.raises(DictPassError, match="no misspelling list"):
        dictpass.misspelling_pairs(str(tmp_path))


def test_config_section_is_typed_and_strict():
    cfg = load_config(EvalConfig, DEFAULT_CONFIG, ["dictionary.margin=3.5", "dictionary.enabled=false"])
    assert cfg.dictionary.margin == 3.5 and not cfg.dictionary.enabled
    with pytest.raises(ConfigError, match="unknown key dictionary.marginn"):
        load_config(EvalConfig, DEFAULT_CONFIG, ["dictionary.marginn=1"])
    with pytest.raises(ConfigError, match="margin must be >= 0"):
        load_config(EvalConfig, DEFAULT_CONFIG, ["dictionary.margin=-1"])
    with pytest.raises(ConfigError, match="max_edit_distance"):
        load_config(EvalConfig, DEFAULT_CONFIG, ["dictionary.max_edit_distance=3"])
    with pytest.raises(ConfigError, match=r"context must be one of \['typed', 'masked', 'both'\]"):
        load_config(EvalConfig, DEFAULT_CONFIG, ["dictionary.context=blank"])
    with pytest.raises(ConfigError, match="mask must be one word"):
        load_config(EvalConfig, DEFAULT_CONFIG, ["dictionary.mask=a b"])


def test_evaluation_and_device_share_one_default_context():
    """The evaluation reads default.yaml; the device bench and the C++ library take DictConfig's
    defaults (tests/test_dictpass_cpp.py checks C++ against those): one rule on host and device."""
    cfg = load_config(EvalConfig, DEFAULT_CONFIG, []).dictionary
    assert (cfg.context, cfg.mask) == (DictConfig.context, DictConfig.mask)


def test_masked_replaces_whole_words_in_any_case():
    assert dictpass.masked("my Batery is dead, batery!", ["batery"], "___") == "my ___ is dead, ___!"
    # edge punctuation of the output token does not matter; parts of longer words stay
    assert dictpass.masked("the moive's end, moives", ["moive's,"], "___") == "the ___ end, moives"
    assert dictpass.masked("a teh b", ["teh", "b"], "#") == "a # #"
    assert dictpass.masked("nothing here", ["...", ""], "___") == "nothing here"


# ---------------------------------------------------------------- the scorer on the tiny model
@pytest.fixture(scope="module")
def tiny(tiny_base):
    from core.loading import load_model, load_tokenizer

    return load_model(str(tiny_base)).eval(), load_tokenizer(str(tiny_base))


def test_batched_scoring_equals_one_forward_per_candidate(tiny):
    from core.prompt import answer_ids, prompt_ids

    model, tok = tiny
    prefix = prompt_ids(tok, "thnaks for the batery")
    answers = ["thnaks for the batery", "thanks for the batery", "thnaks for the battery",
               "thnaks for the bakery", "thank you", "thnaks", "thnaks for the batery, really"]
    conts = [answer_ids(tok, a) for a in answers]
    batched = hf_scorer(model, tok.pad_token_id)(prefix, conts)
    golden = reference_score(model, prefix, conts)
    assert batched == pytest.approx(golden, abs=1e-3)
    # one continuation alone, and continuations that share everything but their last token
    assert hf_scorer(model)(prefix, conts[:1]) == pytest.approx(golden[:1], abs=1e-3)
    # batches of max_rows continuations, each from its own copy of the shared cache
    assert hf_scorer(model, tok.pad_token_id, max_rows=2)(prefix, conts) == pytest.approx(golden, abs=1e-3)
    same = [conts[0], conts[0][:-1] + [conts[1][-1]]]
    assert hf_scorer(model)(prefix, same) == pytest.approx(reference_score(model, prefix, same), abs=1e-3)


def test_pass_on_the_tiny_model_keeps_the_guard(tiny):
    model, tok = tiny
    dp = DictionaryPass(DictConfig(margin=0.0, tie_margin=0.0), tok, hf_scorer(model, tok.pad_token_id), 512)
    inp = "thnaks for the batery at https://exmaple.com, Jhon"
    res = dp.run(inp, "than for the boat at https://exmaple.com, Jhon")
    assert res.needed and guard(inp, res.output) == res.output
    assert protected_strings(res.output) == protected_strings(inp) and "Jhon" in res.output
    assert dp.run("the cat sat", "the cat sat").needed is False


# ---------------------------------------------------------------- the rule with a real unigram LM
def unigram_scorer(tok):
    """A ScoreFn from SymSpell's word counts: each answer word's log relative frequency (an unknown
    word costs 20 nats). A real language model, only without context: enough to make the pass
    choose, in milliseconds."""
    total = sum(dictpass.symspell().words.values())

    def score(prefix, conts):
        out = []
        for c in conts:
            words = tok.decode(c, skip_special_tokens=True).lower().split()
            core = [w.strip(".,!?;:\"'()") for w in words]
            out.append(sum(math.log(dictpass.word_count(w) / total) if dictpass.word_count(w) else -20.0
                           for w in core if w))
        return out
    return score


def test_pass_fixes_what_the_model_left_and_keeps_case(tiny):
    _, tok = tiny
    dp = DictionaryPass(DictConfig(), tok, unigram_scorer(tok), 512)
    inp = "Thnaks, my phone batery is dead"
    res = dp.run(inp, "Than, my phone boat is dead.")  # both changes refused by the guard
    assert res.output == "Thanks, my phone battery is dead."  # the period the model added stays
    assert res.changes == ["Thnaks,->thanks", "batery->battery"]
    # a margin no candidate reaches keeps every word
    assert DictionaryPass(DictConfig(margin=1e6), tok, unigram_scorer(tok), 512).correct(inp, inp) == inp


def test_masked_context_is_what_the_model_scores_against(tiny):
    """context=masked: the scorer's prefix is the prompt of the input with the reviewed words
    masked (and the same prompt otherwise), so the model scores context, not copying."""
    from core.prompt import prompt_ids

    _, tok = tiny
    seen = []
    unigram = unigram_scorer(tok)

    def spy(prefix, conts):
        seen.append(list(prefix))
        return unigram(prefix, conts)

    inp = "Thnaks, my phone batery is dead"
    raw = "Than, my phone boat is dead."
    typed = DictionaryPass(DictConfig(), tok, spy, 512).run(inp, raw)
    hidden = DictionaryPass(DictConfig(context="masked"), tok, spy, 512).run(inp, raw)
    assert seen == [prompt_ids(tok, inp), prompt_ids(tok, "___, my phone ___ is dead")]
    assert typed.output == hidden.output == "Thanks, my phone battery is dead."
    seen.clear()  # "both": one call per context, their log-probabilities summed
    both = DictionaryPass(DictConfig(context="both"), tok, spy, 512).run(inp, raw)
    assert seen == [prompt_ids(tok, inp), prompt_ids(tok, "___, my phone ___ is dead")]
    assert both.output == typed.output


# ---------------------------------------------------------------- the .pte path
@pytest.mark.integration
def test_pte_scorer_matches_the_eager_model(tiny_pte, tiny_model_dir):
    """The same rule on the `.pte` path: export.corrector.pte_scorer (batch 1, KV cache reused past
    the shared prefix) gives the eager model's log-probs, call after call."""
    from core.loading import load_model, load_tokenizer
    from core.prompt import answer_ids, prompt_ids
    from export.corrector import pte_scorer
    from export.runtime import PteModel

    model, tok = load_model(str(tiny_model_dir)).eval(), load_tokenizer(str(tiny_model_dir))
    pte = PteModel(tiny_pte["fp32"])
    prefix = prompt_ids(tok, "thnaks for the batery")
    conts = [answer_ids(tok, a) for a in ["thnaks for the batery", "thanks for the batery", "thank you"]]
    golden = reference_score(model, prefix, conts)
    score = pte_scorer(pte)
    assert score(prefix, conts) == pytest.approx(golden, abs=0.05)
    pte.generate(prefix, 4)  # a generation in between leaves its prompt in the cache: reused, same figures
    assert score(prefix, conts[::-1]) == pytest.approx(golden[::-1], abs=0.05)


# ---------------------------------------------------------------- make eval: the side-by-side row
def test_eval_writes_the_model_plus_dictionary_row(tiny_base, tmp_path):
    import json

    from evaluation.run import main

    pairs = tmp_path / "pairs.json"
    pairs.write_text("".join(json.dumps({"input": i, "output": o}) + "\n" for i, o in [
        ("thnaks for the batery", "thanks for the battery"), ("see you tomorow", "see you tomorrow"),
        ("the cat sat", "the cat sat")]))
    common = ["--model", str(tiny_base), "--benchmarks", str(pairs), "--backends", "hf,symspell",
              "--run", "d", "own_pairs=", f"runs_root={tmp_path / 'runs'}", "root_copy=",
              "dictionary.misspellings="]
    assert main(common) == 0
    run = tmp_path / "runs" / "eval" / "d"
    res = json.loads((run / "metrics.json").read_text())["benchmarks"]["pairs"]["backends"]
    assert list(res) == ["hf", "hf+dict", "symspell"]  # model, model + dictionary, dictionary
    assert set(res["hf+dict"]["dictionary"]) == {"needed_share", "changed_share", "pass_ms_mean"}
    assert res["hf+dict"]["dictionary"]["needed_share"] > 0
    assert "| metric | hf | hf+dict | symspell |" in (run / "summary.md").read_text()
    assert ",hf+dict," in (run / "model_test_results.csv").read_text()
    # other pass settings on the same run redo the pass only; switched off, no row
    assert main(common + ["dictionary.margin=5"]) == 0
    assert main(common + ["dictionary.enabled=false", "root_copy_force=true"]) == 0
    assert "hf+dict" not in json.loads((run / "metrics.json").read_text())["benchmarks"]["pairs"]["backends"]


def test_an_apostrophe_form_symspell_also_proposes_is_offered_once(tiny):
    """"didnt" -> "didn't": SymSpell proposes it and the apostrophe rule used to add it again; the
    two copies tied and the tie margin kept the typo every time."""
    for typed in ("cant", "didnt", "isnt", "thats"):
        texts = [c.text for c in dictpass.candidates([typed, "go"], 0, CFG)]
        assert sum("'" in t for t in texts) == 1, texts
    _, tok = tiny

    def likes_apostrophes(prefix, conts):  # a model sure of the contraction, unsure of the rest
        return [0.0 if "'" in tok.decode(c) else -10.0 for c in conts]

    dp = DictionaryPass(DictConfig(), tok, likes_apostrophes, 512)
    assert dp.correct("i didnt go", "i didnt go") == "i didn't go"
