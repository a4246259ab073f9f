"""Noise model: each corruption type on its own, the tables, and the properties the
issue asks for (rate 0 is the identity, protected spans survive, determinism)."""
from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import ConfigError
from core.spans import protected_strings
from datagen.noise import ERROR_TYPES, WORD_TYPOS, NoiseConfig, Noiser, sentence_rng
from datagen.tables import COMMON_MISSPELLINGS, NEIGHBOURS, PATTERNS, REAL_WORD

RATES = [f.name for f in dataclasses.fields(NoiseConfig) if f.type in ("float", float)]
ZERO = {name: 0.0 for name in RATES}


def only(kind: str, rate: float = 1.0, **extra) -> Noiser:
    """A noiser where one corruption fires at `rate` and everything else is off."""
    cfg = dict(ZERO, keep_first_letter=0.0, keep_last_letter=0.0, short_word_typo=1.0)
    cfg[kind] = rate
    cfg.update(extra)
    return Noiser(NoiseConfig(**cfg))


def runs(noiser: Noiser, text: str, n: int = 40):
    return [noiser.corrupt(text, sentence_rng(7, i)) for i in range(n)]


def one_word_changes(text: str, noisy: str) -> list[tuple[str, str]]:
    a, b = text.split(" "), noisy.split(" ")
    assert len(a) == len(b), (text, noisy)
    return [(x, y) for x, y in zip(a, b) if x != y]


def test_neighbours_are_symmetric_and_local():
    assert set(NEIGHBOURS["g"]) == set("fhtyvb")
    assert "q" not in NEIGHBOURS["p"]
    for key, near in NEIGHBOURS.items():
        for n in near:
            assert key in NEIGHBOURS[n]


def test_tables_are_consistent():
    assert ("ie", "ei") in PATTERNS and ("ph", "f") in PATTERNS
    assert "there" in REAL_WORD["their"] and "too" in REAL_WORD["to"] and "you're" in REAL_WORD["your"]
    for word, wrongs in COMMON_MISSPELLINGS.items():
        assert word not in wrongs


def test_adjacent_key_swaps_one_letter_for_a_neighbour():
    for noisy, errors in runs(only("adjacent_key"), "keyboard"):
        [(a, b)] = one_word_changes("keyboard", noisy)
        diff = [(x, y) for x, y in zip(a, b) if x != y]
        assert len(b) == len(a) and len(diff) == 1 and diff[0][1] in NEIGHBOURS[diff[0][0]]
        assert errors == ["adjacent_key"]


def test_omission_drops_one_letter():
    for noisy, errors in runs(only("omission"), "keyboard"):
        assert len(noisy) == 7 and any(noisy == "keyboard"[:i] + "keyboard"[i + 1:] for i in range(8))
        assert errors == ["omission"]


def test_insertion_adds_a_neighbouring_key():
    for noisy, errors in runs(only("insertion"), "keyboard"):
        spots = [i for i in range(9) if noisy[:i] + noisy[i + 1:] == "keyboard"]
        assert any(noisy[i] in NEIGHBOURS[c] for i in spots
                   for c in noisy[max(0, i - 1):i] + noisy[i + 1:i + 2])
        assert errors == ["insertion"]


def test_transposition_swaps_two_adjacent_letters():
    swaps = {"keyboard"[:i] + "keyboard"[i + 1] + "keyboard"[i] + "keyboard"[i + 2:] for i in range(7)}
    for noisy, errors in runs(only("transposition"), "keyboard"):
        assert noisy in swaps and errors == ["transposition"]


def test_double_and_undouble_letter():
    doubled = [n for n, e in runs(only("double_letter"), "keyboard") if e]
    assert len(doubled) > 20  # doubled vowels are sometimes declined, consonants never
    for noisy in doubled:
        assert any(noisy == "keyboard"[:i + 1] + "keyboard"[i:] for i in range(8))
    assert only("undouble_letter").corrupt("hello committee", random.Random(0)) == (
        "helo comite", ["undouble_letter"] * 4)  # per doubled letter
    for noisy, errors in runs(only("undouble_letter", 0.3), "committee"):
        assert noisy.count("m") + noisy.count("t") + noisy.count("e") == 6 - len(errors)
    assert only("undouble_letter").corrupt("keyboard", random.Random(1)) == ("keyboard", [])


def test_misspelling_uses_the_pattern_table_and_real_lists():
    seen = {only("misspelling").corrupt("I believe the weight", sentence_rng(1, i))[0] for i in range(60)}
    assert any("beleive" in s or "belive" in s for s in seen)   # common misspellings
    assert any("weite" in s or "wieght" in s for s in seen)     # ight->ite, ei->ie patterns
    real = Noiser(dataclasses.replace(only("misspelling").cfg, real_misspelling_share=1.0),
                  {"weight": ["wayt"]})
    assert real.corrupt("weight", random.Random(0)) == ("wayt", ["misspelling"])


def test_real_word_apostrophe_and_lowercase_i():
    for noisy, errors in runs(only("real_word"), "Their dog went to the park."):
        w1, w2 = noisy.split(" ")[0], noisy.split(" ")[3]
        assert w1 in ("There", "They're") and w2 == "too" and errors == ["real_word", "real_word"]
    assert only("apostrophe").corrupt("I don't know, it's fine.", random.Random(0))[0] == (
        "I dont know, its fine.")
    assert only("lowercase_i").corrupt("I think I'm right.", random.Random(0))[0] == "i think i'm right."


def test_split_and_merge_words():
    for noisy, errors in runs(only("split_word", 0.5), "wonderful afternoon tea"):
        assert noisy.replace(" ", "") == "wonderfulafternoontea"
        assert set(errors) <= {"split_word"} and noisy.count(" ") == 2 + len(errors)
    noisy, errors = only("merge_words").corrupt("see you at home", random.Random(0))
    assert noisy == "seeyouathome" and errors == ["merge_words"] * 3


def test_shift_space_moves_a_space_one_letter_and_the_guard_undoes_it():
    from evaluation.guard import guard

    text = "Thank you for the lovely dinner tonight, see you tomorrow morning."
    seen = set()
    for noisy, errors in runs(only("shift_space", 0.5), text, 80):
        assert noisy.replace(" ", "") == text.replace(" ", "") and noisy.count(" ") == text.count(" ")
        assert set(errors) <= {"shift_space"} and all(len(w) >= 3 for w in noisy.split() if w not in text)
        assert guard(noisy, text) == text
        seen |= {w for w in noisy.split() if w not in text.split()}
    assert {"lovel", "ydinner"} <= seen and {"lovelyd", "inner"} <= seen  # early and late
    assert only("shift_space").corrupt("see you at ten", random.Random(0)) == ("see you at ten", [])


def test_sentence_level_corruptions():
    assert only("drop_comma").corrupt("Yes, I know, thanks.", random.Random(0)) == (
        "Yes I know thanks.", ["drop_comma", "drop_comma"])
    assert only("lowercase_start").corrupt("Hello there.", random.Random(0)) == (
        "hello there.", ["lowercase_start"])
    assert only("lowercase_start").corrupt("NASA is here.", random.Random(0))[0] == "NASA is here."
    assert only("drop_final_punct").corrupt("Is it done?", random.Random(0)) == (
        "Is it done", ["drop_final_punct"])


def test_clean_share_is_respected():
    noiser = Noiser(NoiseConfig())
    text = "Could you send me the report before the meeting on Friday?"
    clean = sum(noiser(text, sentence_rng(0, i))[0] == text for i in range(3000)) / 3000
    assert 0.12 < clean < 0.18


def test_rates_are_validated():
    with pytest.raises(ConfigError, match="noise.omission"):
        NoiseConfig(omission=1.5)
    with pytest.raises(ConfigError, match="sum to at most 1"):
        NoiseConfig(adjacent_key=0.6, omission=0.6)


# ---- properties ----
WORDS = st.sampled_from("the quick brown fox I don't their committee keyboard believe weight "
                        "hello, world. it's your to there you're Friday".split())
PROTECTED = st.sampled_from(["https://example.com/a?b=1", "www.python.org", "ann.lee@mail.co.uk", "9:30pm",
                             "10:45", "$5.99", "42", "3.14", "`x = f(y)`", "1,000", "20%"])
SENTENCE = st.lists(st.one_of(WORDS, WORDS, PROTECTED), min_size=1, max_size=14).map(" ".join)
ANY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
ALL_ON = NoiseConfig(**{**{k: 0.5 for k in RATES}, "adjacent_key": 0.15, "omission": 0.15,
                        "insertion": 0.15, "transposition": 0.15, "double_letter": 0.15,
                        "misspelling": 0.15, "clean_share": 0.0})


@settings(max_examples=200, deadline=None)
@given(text=st.one_of(SENTENCE, ANY_TEXT), seed=st.integers(0, 2**32))
def test_all_rates_zero_is_identity(text, seed):
    assert Noiser(NoiseConfig(**ZERO)).corrupt(text, random.Random(seed)) == (text, [])


@settings(max_examples=60, deadline=None)
@given(text=SENTENCE, seed=st.integers(0, 2**32), kind=st.sampled_from(ERROR_TYPES))
def test_each_corruption_at_rate_zero_never_fires(text, seed, kind):
    """Every other corruption on at 0.5, this one at 0: it never shows up."""
    rates = {k: v for k, v in dataclasses.asdict(ALL_ON).items() if k in RATES}
    rates[kind] = 0.0
    _, errors = Noiser(NoiseConfig(**rates)).corrupt(text, random.Random(seed))
    assert kind not in errors


@settings(max_examples=300, deadline=None)
@given(text=SENTENCE, seed=st.integers(0, 2**32))
def test_protected_spans_survive_byte_for_byte(text, seed):
    noisy, _ = Noiser(ALL_ON)(text, random.Random(seed))
    pos = 0
    for span in protected_strings(text):
        found = noisy.find(span, pos)
        assert found >= 0, (text, noisy, span)
        pos = found + len(span)


@settings(max_examples=100, deadline=None)
@given(text=SENTENCE, seed=st.integers(0, 2**20), index=st.integers(0, 2**40))
def test_same_seed_and_index_same_noise(text, seed, index):
    noiser = Noiser(NoiseConfig())
    assert noiser(text, sentence_rng(seed, index)) == Noiser(NoiseConfig())(text, sentence_rng(seed, index))


def test_word_typos_listed_in_error_types():
    assert set(WORD_TYPOS) <= set(ERROR_TYPES) and len(set(ERROR_TYPES)) == len(ERROR_TYPES)
