"""The dataset builder end to end on small corpora the tests write: outputs, split,
dedup, decontamination, determinism, stats, bad input and interrupted builds."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.config import load_config
from datagen import DataConfig, DataError, build_dataset, load_pairs
from datagen.build import _init_worker, _state, process_chunk
from datagen.decontam import dedup_key
from datagen.everyday import everyday_sentences
from datagen.generate_typos import main
from datagen.text import normalize, reject_reason, split_sentences

# one sentence per line (the "Hello, how are you? I am ..." template would split in two)
SENTENCES = list(itertools.islice((s for s in everyday_sentences() if len(split_sentences(s)) == 1), 600))


def corpus(tmp_path: Path, sentences=SENTENCES, name="corpus.txt") -> Path:
    f = tmp_path / name
    f.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    return f


def config(tmp_path: Path, *overrides: str, src: Path | None = None) -> DataConfig:
    base = [f"out_dir={tmp_path / 'data'}", f"runs_root={tmp_path / 'runs'}", "run_name=t", "progress=false",
            "workers=1", "decontaminate_defaults=false", "train_pairs=400", "eval_pairs=40"]
    if src is not None:
        base.append(f"sources=[{{kind: text, path: '{src}'}}]")
    return load_config(DataConfig, None, base + list(overrides))


def read(path: Path) -> list[dict]:
    return load_pairs(path)


def test_build_writes_pairs_stats_and_run_dir(tmp_path):
    stats = build_dataset(config(tmp_path, src=corpus(tmp_path)))
    train, ev = read(tmp_path / "data/train_data.json"), read(tmp_path / "data/eval_data.json")
    assert len(train) == 400 and len(ev) == 40
    assert {r["output"] for r in train + ev} <= set(SENTENCES)
    assert not {dedup_key(r["output"]) for r in train} & {dedup_key(r["output"]) for r in ev}
    run = tmp_path / "runs/data/t"
    assert {"config.yaml", "env.json", "stats.json", "samples.txt"} <= {p.name for p in run.iterdir()}
    saved = json.loads((run / "stats.json").read_text())
    assert saved["pairs"] == {"train": 400, "eval": 40} == stats["pairs"]
    assert 0.08 < saved["share_clean"]["train"] < 0.25
    assert sum(saved["cer"]["histogram"].values()) == 440
    assert saved["error_types"]["pairs_with"]["lowercase_start"] > 0
    assert list(saved["pairs_per_source"].values())[0] == {"train": 400, "eval": 40}
    clean = sum(r["input"] == r["output"] for r in train)
    assert clean == round(saved["share_clean"]["train"] * 400)
    assert all(r["errors"] for r in train if r["input"] != r["output"])


def test_same_seed_same_dataset_whatever_the_workers(tmp_path):
    src = corpus(tmp_path)
    build_dataset(config(tmp_path / "a", src=src))
    build_dataset(config(tmp_path / "b", "workers=2", "chunk_chars=2048", src=src))
    build_dataset(config(tmp_path / "c", "seed=1", src=src))
    a, b, c = ((tmp_path / d / "data/train_data.json").read_bytes() for d in "abc")
    assert a == b
    assert a != c


def test_small_corpus_takes_several_passes_without_leaking_eval(tmp_path):
    stats = build_dataset(config(tmp_path, "train_pairs=1000", "eval_pairs=50", src=corpus(tmp_path)))
    assert stats["passes"] >= 2 and stats["pairs"]["train"] == 1000
    train, ev = read(tmp_path / "data/train_data.json"), read(tmp_path / "data/eval_data.json")
    assert not {r["output"] for r in train} & {r["output"] for r in ev}
    assert len({(r["input"], r["output"]) for r in train}) == 1000  # no duplicate pair


def test_exact_and_near_duplicates_are_dropped(tmp_path):
    sents = SENTENCES[:100] + SENTENCES[:20] + [s.upper()[:-1].lower() + "!" for s in SENTENCES[20:30]]
    stats = build_dataset(config(tmp_path, "train_pairs=5000", "max_passes=1", src=corpus(tmp_path, sents)))
    assert stats["dropped"]["duplicate"] == 20 and stats["dropped"]["near_duplicate"] == 10
    assert sum(stats["pairs"].values()) == 100


def test_user_pairs_and_text_sources_mix(tmp_path):
    pairs = tmp_path / "mine.jsonl"
    pairs.write_text("".join(json.dumps({"input": f"teh number {i} iz here",
                                         "output": f"The number {i} is here."})
                             + "\n" for i in range(30)))
    cfg = config(tmp_path, "train_pairs=200", "eval_pairs=0",
                 f"sources=[{{kind: pairs, path: '{pairs}'}}, {{kind: everyday}}]")
    stats = build_dataset(cfg)
    given_rows = [r for r in read(tmp_path / "data/train_data.json") if r["source"].startswith("pairs:")]
    assert len(given_rows) == 30 and given_rows[0]["errors"] == ["given"]
    assert given_rows[0]["input"] == "teh number 0 iz here"
    assert stats["pairs_per_source"]["everyday"]["train"] == 170


@settings(max_examples=40, deadline=None)
@given(words=st.lists(st.sampled_from("the cat sat on a warm mat and I don't think it's 9:30 or "
                                      "www.x.org yet, really".split()), min_size=4, max_size=20),
       end=st.sampled_from([".", "!", "?", ""]), spaces=st.sampled_from([" ", "  ", "\t", "\u00a0"]))
def test_output_side_is_the_cleaned_source_sentence(words, end, spaces):
    """Property: every pair's output equals the cleaned (normalised) source sentence."""
    raw = spaces + spaces.join(words) + end + spaces
    cfg = DataConfig(decontaminate_defaults=False)
    _init_worker(_state(cfg, set()))
    for kind in ("sent", "text"):
        records, _, _ = process_chunk((0, 1, 0, "src", 0, [(kind, raw, None, "f:1")]))
        expected = [normalize(raw)] if kind == "sent" else split_sentences(normalize(raw))
        kept = [s for s in expected if reject_reason(s, cfg.clean) is None]
        assert [json.loads(r[5])["output"] for r in records] == kept


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, len(SENTENCES) - 1), min_size=1, max_size=25, unique=True),
       style=st.sampled_from(["same", "lower_tokenised", "json"]))
def test_decontamination_removes_every_planted_eval_sentence(tmp_path_factory, picks, style):
    tmp = tmp_path_factory.mktemp("decon")
    planted = [SENTENCES[i] for i in picks]
    if style == "json":
        (tmp / "ev.json").write_text("".join(json.dumps({"input": "x", "output": s}) + "\n" for s in planted))
    else:
        lines = planted if style == "same" else [
            " ".join(s.lower().replace("'", " '").replace("?", " ?").split()) for s in planted]
        (tmp / "ev.txt").write_text("\n".join(lines) + "\n")
    ev = tmp / ("ev.json" if style == "json" else "ev.txt")
    stats = build_dataset(config(tmp, "train_pairs=5000", "eval_pairs=0", "max_passes=1",
                                 f"decontaminate=['{ev}']", src=corpus(tmp)))
    outputs = {r["output"] for s in ("train", "eval") for r in read(tmp / f"data/{s}_data.json")}
    assert not outputs & set(planted)
    assert stats["dropped"]["contaminated"] == len(planted)
    assert sum(stats["pairs"].values()) == len(SENTENCES) - len(planted)


def test_previous_eval_file_is_kept_out_of_training_by_default(tmp_path):
    src = corpus(tmp_path)
    build_dataset(config(tmp_path, src=src))
    old_eval = (tmp_path / "data/eval_data.json").read_bytes()
    # same run name, another config: refused unless fresh=true (the one resume rule)
    again = build_dataset(config(tmp_path, "decontaminate_defaults=true", "fresh=true", src=src))
    assert (tmp_path / "data/eval_data.json").read_bytes() == old_eval  # a rebuild keeps eval stable
    assert again["dropped"].get("contaminated", 0) == 0
    old = {r["output"] for r in load_pairs(tmp_path / "data/eval_data.json")}
    other = build_dataset(config(tmp_path, "decontaminate_defaults=true", "seed=5", "fresh=true", src=src))
    assert other["dropped"]["contaminated"] > 0  # old eval sentences that seed 5 sends to train
    assert not old & {r["output"] for r in read(tmp_path / "data/train_data.json")}


def test_missing_corpus_and_empty_corpus_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="nope: no such file or folder"):
        build_dataset(config(tmp_path, src=tmp_path / "nope"))
    empty = corpus(tmp_path, ["", "   ", "CHAPTER I", "12 34 56"], "empty.txt")
    with pytest.raises(DataError, match="empty corpus"):
        build_dataset(config(tmp_path, src=empty))
    assert not (tmp_path / "data/train_data.json").exists()


def test_interrupted_build_leaves_no_half_written_file(tmp_path):
    src = corpus(tmp_path)
    build_dataset(config(tmp_path, src=src))
    before = (tmp_path / "data/train_data.json").read_bytes()
    bad = tmp_path / "pairs.jsonl"
    bad.write_text("".join(json.dumps({"input": f"a{i}", "output": f"This is pair number {i}."}) + "\n"
                           for i in range(3000)) + "{broken\n")
    cfg = config(tmp_path, "train_pairs=100000", "chunk_chars=1024", "fresh=true",
                 f"sources=[{{kind: pairs, path: '{bad}'}}]")
    with pytest.raises(DataError, match=r"pairs.jsonl:3001: not valid JSON"):
        build_dataset(cfg)
    assert (tmp_path / "data/train_data.json").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["eval_data.json", "train_data.json"]


def test_cli_builds_and_reports(tmp_path, capsys):
    src = corpus(tmp_path)
    pairs = tmp_path / "own.csv"
    pairs.write_text("input,output\nhelo there,Hello there.\n")
    ev = corpus(tmp_path, SENTENCES[:5], "ev.txt")
    rc = main(["--corpus", str(src), "--pairs", str(pairs), "--out", str(tmp_path / "d"), "--run", "cli",
               "--decontaminate", str(ev), f"runs_root={tmp_path / 'runs'}", "train_pairs=700",
               "eval_pairs=0", "progress=false", "workers=1", "decontaminate_defaults=false", "max_passes=1"])
    out = capsys.readouterr().out
    assert rc == 0 and "decontamination dropped 5" in out
    stats = json.loads((tmp_path / "runs/data/cli/stats.json").read_text())
    assert f"wrote {stats['pairs']['train']} train + {stats['pairs']['eval']} eval" in out
    assert sum(stats["pairs"].values()) == 600 - 5 + 1  # corpus - planted eval sentences + the own pair
    assert set(stats["pairs_per_source"]) == {f"text:{src}", f"pairs:{pairs}"}


def test_cli_errors_and_help(tmp_path, capsys):
    assert main(["--corpus", str(tmp_path / "missing"), "--out", str(tmp_path / "d"),
                 f"runs_root={tmp_path / 'runs'}"]) == 2
    assert "missing: no such file or folder" in capsys.readouterr().err
    assert main(["train_pairs=0", f"runs_root={tmp_path / 'runs'}"]) == 2
    assert "train_pairs must be >= 1" in capsys.readouterr().err
    assert main(["no_such_key=1"]) == 2
    assert "unknown key no_such_key" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--corpus", "--pairs", "--run", "--out", "--decontaminate", "--misspellings", "hf:NAME"):
        assert opt in text


def test_hf_saved_dataset_through_the_cli(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"body": SENTENCES[:200]}).save_to_disk(str(tmp_path / "ds"))
    rc = main(["--corpus", f"hf:{tmp_path / 'ds'}", "--column", "body", "--out", str(tmp_path / "d"),
               f"runs_root={tmp_path / 'runs'}", "train_pairs=150", "eval_pairs=10", "progress=false",
               "workers=1", "decontaminate_defaults=false", "max_passes=1"])
    assert rc == 0 and len(read(tmp_path / "d/train_data.json")) == 150


def test_shared_corpus_with_default_decontamination(tmp_path, shared_data):
    cfg = config(tmp_path, "decontaminate_defaults=true", "train_pairs=2000", "eval_pairs=100", "workers=2",
                 src=shared_data / "corpus/wikipedia")
    stats = build_dataset(cfg)
    assert stats["pairs"] == {"train": 2000, "eval": 100}
    assert any("neuspell-bea4660" in f for f in stats["decontaminated_against"]["files"])


def test_real_misspelling_lists_feed_the_noise(tmp_path):
    lists = tmp_path / "lists.dat"
    lists.write_text("$tomorrow\ntomorroww\n$meet\nmeeet\n$forget\nforgget\n")
    sents = [s for s in SENTENCES if "tomorrow" in s or "meet" in s or "forget" in s][:60]
    rc = main(["--corpus", str(corpus(tmp_path, sents)), "--misspellings", str(lists),
               "--out", str(tmp_path / "d"), f"runs_root={tmp_path / 'runs'}", "train_pairs=60",
               "eval_pairs=0", "progress=false", "workers=1",
               "decontaminate_defaults=false", "max_passes=1", "noise.misspelling=0.9",
               "noise.real_misspelling_share=1.0", "noise.clean_share=0"])
    assert rc == 0
    inputs = " ".join(r["input"] for r in read(tmp_path / "d/train_data.json"))
    assert "tomorroww" in inputs or "meeet" in inputs or "forgget" in inputs


def test_help_lists_every_config_key(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for key in ("train_pairs=", "noise.omission=", "noise.clean_share=", "clean.max_words=", "bad_lines=",
                "decontaminate_defaults=", "workers=", "max_passes="):
        assert key in text


def test_later_passes_make_variants_and_keep_the_clean_share(tmp_path):
    stats = build_dataset(config(tmp_path, "train_pairs=2400", "eval_pairs=0", src=corpus(tmp_path)))
    assert stats["passes"] == 2 and stats["pairs"]["train"] == 2400  # 600 sentences, several variants each
    assert 0.1 < stats["share_clean"]["train"] < 0.2
    rows = read(tmp_path / "data/train_data.json")
    assert len({(r["input"], r["output"]) for r in rows}) == 2400
    per_sentence = {}
    for r in rows:
        per_sentence.setdefault(r["output"], []).append(r["input"] == r["output"])
    assert max(sum(v) for v in per_sentence.values()) == 1  # at most one clean pair per sentence
