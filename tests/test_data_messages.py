"""The messages profile of the data generator: conversational sources, the phone-typing
noise (chat abbreviations, lower case throughout), reference forms, and source shares."""
from __future__ import annotations

import itertools
import random
import re
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from datagen import DataConfig, build_dataset, load_pairs
from datagen.config import MESSAGES_NOISE
from datagen.messages import chat_lines, fix_sentence, is_sentence, message_sentences, template_messages
from datagen.noise import NoiseConfig, Noiser
from datagen.tables import CHAT_ABBREVIATIONS
from evaluation.guard import ABBREVIATIONS, guard


def test_every_chat_abbreviation_is_one_the_guard_expands():
    for phrase, abbrevs in CHAT_ABBREVIATIONS.items():
        for a in abbrevs:
            assert a in ABBREVIATIONS, a
            assert phrase in {e.lower() for e in ABBREVIATIONS[a]}, (a, phrase)


def test_the_guard_keeps_each_expansion_in_a_message():
    for phrase, abbrevs in CHAT_ABBREVIATIONS.items():
        for a in abbrevs:
            ref = f"Tell me {phrase} please."
            assert guard(f"tell me {a} please", ref) == ref


def test_chat_corpus_lines_are_real_dialogue_once_each():
    lines = list(chat_lines())
    assert len(lines) > 1500
    assert len(set(lines)) == len(lines)
    assert "Good morning, how are you?" in lines


def test_message_stream_is_deterministic_and_mixed():
    a = list(itertools.islice(message_sentences(), 200))
    assert a == list(itertools.islice(message_sentences(), 200))
    templates = set(itertools.islice(template_messages(), 5000))
    assert 60 < sum(s in templates for s in a) < 140


@pytest.mark.parametrize("text, fixed", [
    ("the patter of tiny feet", "The patter of tiny feet."),
    ("that too.", "That too."),
    ('"yes, later"', '"Yes, later".'),
    ("Is it?", "Is it?"),
])
def test_fix_sentence(text, fixed):
    assert fix_sentence(text) == fixed
    assert is_sentence(fixed)


@pytest.mark.parametrize("text", ["the end.", "He left", "and so on", "(no)"])
def test_is_sentence_refuses(text):
    assert not is_sentence(text)


def test_chat_abbrev_and_lowercase_all_keep_protected_spans():
    noiser = Noiser(NoiseConfig(clean_share=0.0, chat_abbrev=1.0, lowercase_all=1.0, lowercase_start=0.0,
                                drop_final_punct=0.0, adjacent_key=0, omission=0, insertion=0,
                                transposition=0, double_letter=0, undouble_letter=0, misspelling=0,
                                real_word=0, apostrophe=0, lowercase_i=0, split_word=0, merge_words=0,
                                drop_comma=0))
    text = "Thank you Anna, see you at https://Example.com/A tomorrow because I don't know."
    noisy, errors = noiser(text, random.Random(0))
    assert "https://Example.com/A" in noisy
    assert noisy.startswith("ty anna, see ") and (" tmr " in noisy or " tmrw " in noisy), noisy
    assert "idk" in noisy and "chat_abbrev" in errors and "lowercase_all" in errors
    assert guard(noisy, text) == text  # every change is one the guard lets a model undo


def _build(tmp_path: Path, *overrides: str) -> tuple[dict, list[dict]]:
    corpus = tmp_path / "prose.txt"
    corpus.write_text("\n".join(
        [f"the river number {i} was quiet and cold that morning" for i in range(300)]
        + [f"The old mill by road {i} was closed for the winter." for i in range(300)]) + "\n")
    cfg = load_config(DataConfig, None, [
        f"out_dir={tmp_path / 'data'}", f"runs_root={tmp_path / 'runs'}", "run_name=t", "progress=false",
        "workers=1", "decontaminate_defaults=false", "train_pairs=500", "eval_pairs=20",
        "sources=[{kind: messages, profile: messages, form: fix, share: 0.6},"
        f" {{kind: text, path: '{corpus}', format: lines, form: sentence, share: 0.4}}]", *overrides])
    stats = build_dataset(cfg)
    return stats, load_pairs(tmp_path / "data" / "train_data.json")


def test_shares_split_the_pairs_and_forms_shape_the_references(tmp_path):
    stats, pairs = _build(tmp_path)
    per = stats["pairs_per_source"]
    assert per["messages"]["train"] == 300 and per[f"text:{tmp_path / 'prose.txt'}"]["train"] == 200
    prose = [p for p in pairs if p["source"].startswith("text:")]
    assert prose and all(p["output"].startswith("The old mill") for p in prose)  # lower-case ones refused
    assert stats["dropped"]["rejected_not_sentence"] >= 300
    msgs = [p for p in pairs if p["source"] == "messages"]
    assert all(is_sentence(p["output"]) for p in msgs)
    # typed like a phone: most inputs start in lower case and most end without a full stop
    noisy = [p for p in msgs if p["input"] != p["output"]]
    assert sum(p["input"][:1].islower() for p in noisy) > 0.7 * len(noisy)
    assert sum(p["input"][-1:] not in ".!?" for p in noisy) > 0.7 * len(noisy)


def test_shares_must_cover_every_source(tmp_path):
    with pytest.raises(ConfigError, match="share"):
        load_config(DataConfig, None, ["sources=[{kind: messages, share: 0.5}, {kind: everyday}]"])
    with pytest.raises(ConfigError, match="share"):
        load_config(DataConfig, None, ["sources=[{kind: messages, share: 0.5}, {kind: everyday, share: .2}]"])


def test_messages_noise_defaults_are_the_documented_ones():
    cfg = load_config(DataConfig, None, [])
    for k, v in MESSAGES_NOISE.items():
        assert getattr(cfg.messages_noise, k) == v
    shipped = load_config(DataConfig, str(Path(__file__).parents[1] / "datagen/configs/messages.yaml"), [])
    for k, v in MESSAGES_NOISE.items():
        assert getattr(shipped.messages_noise, k) == v, k


def test_a_source_of_lower_case_fragments_is_counted_and_warned_about(tmp_path, capsys):
    """The cause of r1's weak case and punctuation: 22 % of its pairs were WordNet examples
    whose references start in lower case and end without a mark. A build says so."""
    from datagen.generate_typos import report

    corpus = tmp_path / "examples.txt"
    corpus.write_text("\n".join(f"the patter of tiny feet number {i}" for i in range(200)) + "\n")
    cfg = load_config(DataConfig, None, [
        f"out_dir={tmp_path / 'data'}", f"runs_root={tmp_path / 'runs'}", "run_name=t", "progress=false",
        "workers=1", "decontaminate_defaults=false", "train_pairs=100", "eval_pairs=5", "min_fill=0",
        f"sources=[{{kind: text, path: '{corpus}', format: lines}}]"])
    stats = build_dataset(cfg)
    assert stats["unshaped_reference_share"][f"text:{corpus}"] == 1.0
    report(stats)
    assert "do not start with a capital" in capsys.readouterr().err
    src = f"sources=[{{kind: text, path: '{corpus}', format: lines, form: fix}}]"
    fixed = load_config(DataConfig, None, [f"out_dir={tmp_path / 'd2'}", f"runs_root={tmp_path / 'r2'}",
                                           "run_name=t", "progress=false", "workers=1", "min_fill=0",
                                           "decontaminate_defaults=false", "train_pairs=100", "eval_pairs=5",
                                           src])
    assert build_dataset(fixed)["unshaped_reference_share"][f"text:{corpus}"] == 0.0


def _join_build(tmp_path: Path, join: float) -> list[dict]:
    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(f"the cat sat on mat number {i}" for i in range(300)) + "\n")
    cfg = load_config(DataConfig, None, [
        f"out_dir={tmp_path / f'data{join}'}", f"runs_root={tmp_path / 'runs'}", f"run_name=j{join}",
        "progress=false", "workers=1", "decontaminate_defaults=false", "train_pairs=200", "eval_pairs=5",
        "min_fill=0", f"sources=[{{kind: text, path: '{corpus}', format: lines, form: fix, join: {join}}}]"])
    build_dataset(cfg)
    return load_pairs(tmp_path / f"data{join}" / "train_data.json")


def test_join_sends_two_shaped_sentences_as_one_message(tmp_path):
    """`join` puts a sentence and the next one in one message, each shaped by `form` first: the
    references then hold sentence breaks, which the messages noise drops from the inputs."""
    alone, joined = _join_build(tmp_path, 0.0), _join_build(tmp_path, 0.5)
    breaks = re.compile(r"\d\. The cat")
    assert not any(breaks.search(p["output"]) for p in alone)
    two = [p for p in joined if breaks.search(p["output"])]
    assert 0.15 * len(joined) < len(two) < 0.6 * len(joined)
    assert all(is_sentence(p["output"]) and p["output"].count(".") == 2 for p in two)


def test_join_is_refused_where_there_is_nothing_to_join():
    with pytest.raises(ConfigError, match="join"):
        load_config(DataConfig, None, ["sources=[{kind: pairs, path: x.jsonl, join: 0.3}]"])
    with pytest.raises(ConfigError, match="join must be in"):
        load_config(DataConfig, None, ["sources=[{kind: everyday, join: 1.5}]"])


def test_join_batches_one_sentence_sources_and_keeps_every_unit():
    from datagen.config import SourceConfig
    from datagen.sources import expand, source_units

    src = SourceConfig(kind="everyday", limit=20, join=0.5)
    units = list(source_units(src, "auto", 10_000))
    assert [u[0] for u in units] == ["batch"] * 3
    flat = [x for u in units for x in expand(u)]
    plain = list(source_units(SourceConfig(kind="everyday", limit=20), "auto", 10_000))
    assert flat == plain
