"""Bad inputs to the data stage (issue 16): a degenerate rebuild never replaces a good
dataset, the user's pairs are always used, names and paths are checked first, a dead worker
is noticed, and no temp file outlives a build."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs import ResumeError
from datagen import DataError, build_dataset
from datagen.build import WORKER_EXIT_ENV, eval_hash
from datagen.decontam import dedup_key
from datagen.generate_typos import main
from datagen.text import normalize
from tests.fixtures.base import REPO
from tests.test_data_build import SENTENCES, config, corpus


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_a_one_sentence_corpus_does_not_replace_a_good_dataset(tmp_path):
    build_dataset(config(tmp_path, src=corpus(tmp_path)))
    good = _files(tmp_path / "data")
    one = corpus(tmp_path, SENTENCES[:1], "one.txt")
    with pytest.raises(DataError, match=r"only \d+ of the requested 400 pairs .* kept the existing dataset"):
        build_dataset(config(tmp_path, "run_name=t2", src=one))
    assert _files(tmp_path / "data") == good  # nothing replaced, no temp file left
    forced = build_dataset(config(tmp_path, "run_name=t3", "min_fill=0", src=one))
    assert forced["pairs"]["train"] < 200 and _files(tmp_path / "data") != good


def test_an_empty_eval_split_does_not_replace_a_good_one(tmp_path):
    build_dataset(config(tmp_path, src=corpus(tmp_path)))
    good = _files(tmp_path / "data")
    # only the sentences whose split hash sends them to train: train fills, eval stays empty
    share = 40 / (400 + 40)
    to_train = [s for s in SENTENCES if eval_hash(dedup_key(normalize(s)), 0) >= share]
    with pytest.raises(DataError, match="eval: only 0 of the requested 40 pairs .* holds 40"):
        build_dataset(config(tmp_path, "run_name=t2", src=corpus(tmp_path, to_train, "train_only.txt")))
    assert _files(tmp_path / "data") == good


def test_user_pairs_are_used_even_with_a_small_train_size(tmp_path):
    pairs = tmp_path / "mine.jsonl"
    pairs.write_text("".join(json.dumps({"input": f"teh number {i} iz here", "output": f"The number {i}."})
                             + "\n" for i in range(5)))
    rc = main(["--pairs", str(pairs), "--out", str(tmp_path / "d"), f"runs_root={tmp_path / 'runs'}",
               "train_pairs=20", "eval_pairs=0", "progress=false", "workers=1",
               "decontaminate_defaults=false"])
    assert rc == 0
    rows = [json.loads(line) for line in (tmp_path / "d/train_data.json").read_text().splitlines()]
    assert len(rows) == 20 and sum(r["source"] == f"pairs:{pairs}" for r in rows) == 5


def test_a_pairs_file_with_no_usable_pair_is_an_error(tmp_path):
    pairs = tmp_path / "blank.jsonl"
    pairs.write_text(json.dumps({"input": "x", "output": "   "}) + "\n")
    sources = f"sources=[{{kind: pairs, path: '{pairs}'}}, {{kind: everyday}}]"
    cfg = config(tmp_path, "eval_pairs=0", sources)
    with pytest.raises(DataError, match="none of the pairs in pairs:.*blank.jsonl were used"):
        build_dataset(cfg)
    assert not (tmp_path / "data/train_data.json").exists()


def _cli(tmp_path, *args):
    return main(["--corpus", str(corpus(tmp_path)), f"runs_root={tmp_path / 'runs'}", "train_pairs=50",
                 "eval_pairs=5", "progress=false", "workers=1", "decontaminate_defaults=false", *args])


@pytest.mark.parametrize("args, message", [
    (["--run", "../../x"], "--run '../../x' is not a plain name"),
    (["--run", "a/b"], "--run 'a/b' is not a plain name"),
    (["--out", "{file}"], "out_dir .* is a file, not a folder"),
    (["--out", "{file}/sub"], "is a file, so the folder cannot be created"),
    (["runs_root={file}"], "runs_root .* is a file"),
    (["min_fill=2"], "min_fill must be in"),
    (["max_steps=200"], "command-line override max_steps=200: unknown key"),
])
def test_cli_rejects_names_and_paths_before_reading(tmp_path, capsys, args, message):
    f = tmp_path / "a_file"
    f.write_text("x")
    rc = _cli(tmp_path, *[a.replace("{file}", str(f)) for a in args])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path.parent / "x").exists() and not list(tmp_path.glob("**/train_data.json"))


@pytest.mark.parametrize("content, message", [
    (b"", "empty corpus"),
    (b"\xff\xfe\x00\x01binary\x00\x00", "c.txt: looks like UTF-16"),  # a UTF-16 byte-order mark
    (b"\xfe\xfd\x00\x01binary\n" * 3, "empty corpus.*skipped_not_utf8"),
    (b"x" * 300_000, "empty corpus"),  # one huge line, no sentence
])
def test_unusable_text_is_a_clear_error(tmp_path, content, message):
    src = tmp_path / "c.txt"
    src.write_bytes(content)
    with pytest.raises(DataError, match=message):
        build_dataset(config(tmp_path, src=src))
    assert not (tmp_path / "data/train_data.json").exists()


def test_a_non_utf8_pairs_file_names_the_line(tmp_path):
    pairs = tmp_path / "p.jsonl"
    good = json.dumps({"input": "a b c d", "output": "A b c d."}).encode()
    pairs.write_bytes(good + b'\n{"input": "caf\xe9"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: not UTF-8"):
        build_dataset(config(tmp_path, f"sources=[{{kind: pairs, path: '{pairs}'}}]"))


def test_rerunning_a_run_name_with_another_config_is_refused(tmp_path):
    src = corpus(tmp_path)
    build_dataset(config(tmp_path, src=src))
    stats = (tmp_path / "runs/data/t/stats.json").read_bytes()
    with pytest.raises(ResumeError, match="runs/data/t was made with seed=0, this run has seed=3.*fresh="):
        build_dataset(config(tmp_path, "seed=3", src=src))
    assert (tmp_path / "runs/data/t/stats.json").read_bytes() == stats
    build_dataset(config(tmp_path, "workers=2", src=src))  # workers do not change the result
    build_dataset(config(tmp_path, "seed=3", "fresh=true", src=src))
    assert (tmp_path / "runs/data/t/stats.json").read_bytes() != stats


def test_a_dead_worker_is_noticed_and_the_build_retries_in_one_process(tmp_path, monkeypatch, capsys):
    src = corpus(tmp_path)
    ref = build_dataset(config(tmp_path / "ref", src=src))
    monkeypatch.setenv(WORKER_EXIT_ENV, "exit")  # every pool worker exits on its first chunk
    t0 = time.monotonic()
    got = build_dataset(config(tmp_path / "b", "workers=2", "chunk_chars=2048", src=src))
    assert time.monotonic() - t0 < 60  # no hang
    assert "a datagen worker died" in capsys.readouterr().err and got["workers"] == 1
    assert got["pairs"] == ref["pairs"]
    for s in ("train", "eval"):
        got_bytes = (tmp_path / f"b/data/{s}_data.json").read_bytes()
        assert got_bytes == (tmp_path / f"ref/data/{s}_data.json").read_bytes()


def test_leftover_temp_files_are_removed_on_the_next_start(tmp_path):
    (tmp_path / "data").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / "data" / f".train_data.json.{dead}.tmp"
    stale.write_bytes(b"x" * 1000)
    build_dataset(config(tmp_path, src=corpus(tmp_path)))
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["eval_data.json", "train_data.json"]


def test_sigterm_during_a_build_leaves_no_temp_file(tmp_path):
    out = tmp_path / "d"
    proc = subprocess.Popen([sys.executable, "-m", "datagen", "--corpus", "everyday", "--out", str(out),
                             f"runs_root={tmp_path / 'runs'}", "train_pairs=2000000", "eval_pairs=0",
                             "workers=1", "progress=false", "decontaminate_defaults=false"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(p.stat().st_size > 0 for p in out.glob(".*.tmp")):
        time.sleep(0.05)
    assert list(out.glob(".*.tmp")), "the build never started writing"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert not out.exists()  # the folder the build made goes too: nothing written


# --- issue 28: inputs that are not files, overrides anywhere, overrides at fault ----------------

def _odd(tmp_path: Path, kind: str) -> str:
    """A path of the given kind under tmp_path/in (the inputs' folder)."""
    d = tmp_path / "in"
    d.mkdir(exist_ok=True)
    if kind == "fifo":
        os.mkfifo(d / "fifo.txt")
        return str(d / "fifo.txt")
    if kind == "fifo.jsonl":
        os.mkfifo(d / "fifo.jsonl")
        return str(d / "fifo.jsonl")
    if kind == "loop":
        (d / "a").symlink_to(d / "b")
        (d / "b").symlink_to(d / "a")
        return str(d / "a")
    if kind == "emptydir":
        (d / "empty").mkdir()
        return str(d / "empty")
    if kind == "empty":
        (d / "empty.txt").write_bytes(b"")
        return str(d / "empty.txt")
    if kind == "junk":
        (d / "junk.bin").write_bytes(bytes(range(256)))
        return str(d / "junk.bin")
    return kind  # a device such as /dev/zero


@pytest.mark.parametrize("flag, kind, message", [
    ("--corpus", "fifo", r"sources\[0\] \(text\) .*fifo.txt: a named pipe, not a regular file or folder"),
    ("--corpus", "/dev/zero", r"sources\[0\] \(text\) /dev/zero: a character device, not a regular file"),
    ("--corpus", "/dev/null", r"/dev/null: a character device, not a regular file or folder"),
    ("--corpus", "loop", r"sources\[0\] \(text\) .*/a: Too many levels of symbolic links"),
    ("--corpus", "emptydir", r"/empty: folder holds no readable files \(.md, .rst, .text, .txt\)"),
    ("--corpus", "empty", r"sources\[0\] \(text\) .*empty.txt: empty file \(0 bytes\)"),
    ("--pairs", "fifo.jsonl", r"sources\[\d\] \(pairs\) .*fifo.jsonl: a named pipe, not a regular file"),
    ("--pairs", "empty", r"\(pairs\) .*empty.txt: empty file \(0 bytes\)"),
    ("--decontaminate", "fifo", r"decontaminate .*fifo.txt: a named pipe, not a regular file or folder"),
    ("--decontaminate", "loop", r"decontaminate .*/a: Too many levels of symbolic links"),
    ("--decontaminate", "emptydir", r"/empty: evaluation set to decontaminate against holds no "
                                    r"\.dat, \.json, \.jsonl, \.txt files"),
    ("--misspellings", "fifo", r"noise.misspellings_path .*fifo.txt: a named pipe, not a regular file"),
    ("--misspellings", "emptydir", r"/empty: folder holds no misspelling lists"),
    ("--misspellings", "junk", r"junk.bin: unknown misspelling list format"),
])
def test_an_input_that_is_not_a_usable_file_is_named_before_anything_is_written(tmp_path, capsys, flag,
                                                                                 kind, message):
    path = _odd(tmp_path, kind)
    corpus_args = [] if flag == "--corpus" else ["--corpus", "everyday"]
    t0 = time.monotonic()
    rc = main([flag, path, *corpus_args, "--out", str(tmp_path / "d"), f"runs_root={tmp_path / 'runs'}",
               "train_pairs=20", "eval_pairs=2", "progress=false", "workers=1",
               "decontaminate_defaults=false"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: ") and re.search(message, err), err
    assert time.monotonic() - t0 < 30  # a named pipe is never opened: nothing blocks
    assert not (tmp_path / "d").exists() and not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize("args, message", [
    (["clean.min_words=30", "clean.max_words=5"],
     r"^error: command-line overrides clean.min_words=30 clean.max_words=5: clean: need 1 <= min_words"),
    (["clean.max_words=5", "seed=2", "clean.min_words=30"],
     r"^error: command-line overrides clean.max_words=5 clean.min_words=30: clean:"),
    (["noise.clean_share=nan"], r"^error: command-line override noise.clean_share=nan: noise.clean_share: "
                                r"expected a finite number, got 'nan'"),
    (["min_fill=.inf"], r"^error: command-line override min_fill=.inf: min_fill: expected a finite number"),
    (["seed=-5"], r"^error: command-line override seed=-5: seed: -5 is out of range"),
])
def test_an_override_error_names_the_overrides_at_fault_not_the_flags(tmp_path, capsys, args, message):
    rc = main(["--corpus", "everyday", "--out", str(tmp_path / "d"), f"runs_root={tmp_path / 'runs'}",
               "train_pairs=20", *args, "--run", "r1", "eval_pairs=2"])
    err = capsys.readouterr().err
    assert rc == 2 and re.search(message, err), err
    assert "out_dir" not in err and "train_pairs" not in err and "sources=" not in err
    assert list(tmp_path.iterdir()) == []


def test_overrides_before_between_and_after_flags_all_apply(tmp_path):
    rc = main(["train_pairs=30", "--corpus", "everyday", "eval_pairs=3", "--out", str(tmp_path / "d"),
               f"runs_root={tmp_path / 'runs'}", "--run", "r1", "progress=false", "workers=1",
               "decontaminate_defaults=false"])
    assert rc == 0
    assert len((tmp_path / "d/train_data.json").read_text().splitlines()) == 30
    assert len((tmp_path / "d/eval_data.json").read_text().splitlines()) == 3


# --- issue 28 follow-ups: strict pairs lines and CSV, no run folder for a build that fails -------

GOOD = json.dumps({"input": "teh cat sat on teh mat", "output": "The cat sat on the mat."})


@pytest.mark.parametrize("name, content, message", [
    ("p.jsonl", b'{"input": "teh cat", "input": "a dog", "output": "The cat."}\n',
     r"p.jsonl:1: not valid JSON \(key 'input' appears twice in one object\)"),
    ("p.jsonl", (GOOD + "\n").encode() + b'{"input": "a", "output": NaN}\n',
     r"p.jsonl:2: not valid JSON \(NaN"),
    ("p.jsonl", b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
     r"p.jsonl:1: not valid JSON \(nested too deeply\)"),
    ("p.jsonl", '{"input": "te\\u0000h cat", "output": "The cat."}\n'.encode(),
     r"p.jsonl:1: 'input' holds a NUL character: not text"),
    ("p.jsonl", (GOOD + "\n").encode("utf-16"), r"p.jsonl: looks like UTF-16"),
    ("p.csv", b"teh cat sat,The cat sat.\nteh dog ran,The dog ran.\n",
     r"p.csv:1: the header line names no 'input' and 'output' column \(it holds 'teh cat sat', "
     r"'The cat sat.'\): a CSV pairs file starts with a header such as input,output"),
    ("p.csv", b'input,output\nteh cat sat,"The cat sat.\nteh dog ran,The dog ran.\n',
     r"p.csv:2: not valid CSV \(unexpected end of data\)"),
    ("p.csv", b'input,output\n"teh cat" sat,The cat sat.\n', r"p.csv:2: not valid CSV \(',' expected after"),
    ("p.csv", b"input,output\nteh cat, the dog,The cat, the dog.\n",
     r"p.csv:2: 4 fields, the header has 2 \(quote a field that holds a comma\)"),
    ("p.csv", b"input,output\nteh cat sat\n", r"p.csv:2: 1 fields, the header has 2"),
    ("p.csv", b"input,input,output\na,b,c\n", r"p.csv:1: the header names a column twice"),
    ("p.csv", b"input,output\na," + b"x" * 200_000 + b"\n", r"p.csv:2: not valid CSV \(field larger than"),
    ("p.csv", "input,output\nteh cat,The cat.\n".encode("utf-16"), r"p.csv: looks like UTF-16"),
])
def test_a_pairs_file_that_would_train_on_the_wrong_text_is_refused(tmp_path, name, content, message):
    """Before: a key given twice kept its last value, a quote left open swallowed every later
    line into one pair, a header-less CSV took its first pair as the header, an unquoted comma
    shifted the columns, all silently; deep nesting was a RecursionError traceback."""
    pairs = tmp_path / "in" / name
    pairs.parent.mkdir()
    pairs.write_bytes(content)
    cfg = config(tmp_path, f"sources=[{{kind: pairs, path: '{pairs}'}}, {{kind: everyday}}]", "eval_pairs=0")
    with pytest.raises(DataError, match=message):
        build_dataset(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no run folder, no out_dir


def test_a_csv_with_its_header_and_quoted_commas_is_read(tmp_path):
    pairs = tmp_path / "p.csv"
    pairs.write_bytes(b'\xef\xbb\xbfinput,output\n"teh cat, teh dog","The cat, the dog."\n')
    rows = []
    from datagen.config import SourceConfig
    from datagen.sources import pair_file_units

    for unit in pair_file_units(pairs, SourceConfig(kind="pairs", path=str(pairs)), "error"):
        rows.append(unit[1:3])
    assert rows == [("teh cat, teh dog", "The cat, the dog.")]


def test_a_special_file_given_to_the_builder_is_named_not_opened(tmp_path):
    """The CLI checks it first (check_input_kinds); the builder itself refuses too."""
    os.mkfifo(tmp_path / "p.jsonl")
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"source .*p.jsonl: a named pipe, not a regular file or folder"):
        build_dataset(config(tmp_path, f"sources=[{{kind: pairs, path: '{tmp_path / 'p.jsonl'}'}}]"))
    assert time.monotonic() - t0 < 30 and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b"\n\n\n", b"1234 5678\n" * 50,
                                     "hello there\n".encode("utf-16-le") * 20])
def test_a_corpus_with_no_usable_sentence_leaves_no_run_folder(tmp_path, content):
    """Before: runs/data/<name>/ (config.yaml, env.json) stayed behind a failed build."""
    src = tmp_path / "in.txt"
    src.write_bytes(content)
    with pytest.raises(DataError, match="empty corpus|looks like UTF-16"):
        build_dataset(config(tmp_path, src=src))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
