"""Benchmark readers: small files written here, then the real sets (shared_data)."""
from __future__ import annotations

import json

import pytest

from evaluation.eval_sets import (
    BenchmarkError,
    edit_type,
    load_benchmark,
    load_benchmarks,
    read_holbrook,
    read_jsonl,
    read_parallel,
    read_ukp,
)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_parallel_lines(tmp_path):
    d = tmp_path / "neuspell-bea9"
    write(d / "corrupt.txt", "i tought so\nwich one\n")
    write(d / "correct.txt", "i thought so\nwhich one\n")
    b = read_parallel(d)
    assert [(p.input, p.reference) for p in b.pairs] == [("i tought so", "i thought so"),
                                                         ("wich one", "which one")]
    assert b.case_insensitive  # BEA sets are lowercased
    write(tmp_path / "jfleg" / "corrupt.txt", "A\n")
    write(tmp_path / "jfleg" / "correct.txt", "A\n")
    assert not read_parallel(tmp_path / "jfleg").case_insensitive


def test_parallel_line_counts_differ(tmp_path):
    write(tmp_path / "corrupt.txt", "a\nb\nc\n")
    write(tmp_path / "correct.txt", "a\nb\n")
    with pytest.raises(BenchmarkError, match="corrupt.txt has 3 lines but correct.txt has 2"):
        read_parallel(tmp_path)


def test_parallel_missing_file_and_bad_encoding(tmp_path):
    write(tmp_path / "corrupt.txt", "a\n")
    with pytest.raises(BenchmarkError, match="correct.txt: file not found"):
        read_parallel(tmp_path)
    (tmp_path / "correct.txt").write_bytes(b"\xff\xfe\x00bad")  # a UTF-16 byte-order mark
    with pytest.raises(BenchmarkError, match="UTF-16 or UTF-32"):
        read_parallel(tmp_path)
    (tmp_path / "correct.txt").write_bytes(b"caf\xe9\n")  # Latin-1
    with pytest.raises(BenchmarkError, match="not UTF-8"):
        read_parallel(tmp_path)


UKP = """12
345
son
sun
31
He fell asleep and Helios, the son, walked in.

13
346
roll
role
13
He plays the roll well.
"""


def test_ukp_blocks(tmp_path):
    b = read_ukp(write(tmp_path / "en_natural_test.txt", UKP))
    assert [p.reference for p in b.pairs] == ["He fell asleep and Helios, the sun, walked in.",
                                              "He plays the role well."]
    assert b.pairs[1].errors == [{"type": "real-word", "wrong": "roll", "right": "role"}]


def test_ukp_bad_offset_and_short_block(tmp_path):
    with pytest.raises(BenchmarkError, match=r"en_natural_test.txt:6: 'son' is not at offset 13"):
        read_ukp(write(tmp_path / "en_natural_test.txt", UKP.replace("31\nHe fell", "13\nHe fell")))
    with pytest.raises(BenchmarkError, match=r":1: expected 6 lines"):
        read_ukp(write(tmp_path / "x" / "en_natural_test.txt", "1\n2\nson\n"))


HOLBROOK = """1.
NIGEL THRUSH page 48

 I have a <ERR targ=sister> siter </ERR> .
My Dad works at Melton.
My Mum goes out <ERR targ=sometimes> some times </ERR> on <ERR targ=Tuesday> tusday
</ERR> nights.
"""


def test_holbrook_tags(tmp_path):
    b = read_holbrook(write(tmp_path / "holbrook-tagged.dat", HOLBROOK))
    got = [(p.input, p.reference) for p in b.pairs]
    assert got == [("I have a siter .", "I have a sister ."),
                   ("My Dad works at Melton.", "My Dad works at Melton."),
                   ("My Mum goes out some times on tusday nights.",
                    "My Mum goes out sometimes on Tuesday nights.")]
    assert [e["type"] for e in b.pairs[2].errors] == ["merge", "omission"]
    assert b.pairs[1].errors is None


def test_holbrook_unclosed_tag(tmp_path):
    with pytest.raises(BenchmarkError, match=r"holbrook-tagged.dat:1: unclosed"):
        read_holbrook(write(tmp_path / "holbrook-tagged.dat", "a <ERR targ=b> c\nd\n"))


def test_edit_types():
    assert edit_type("Monday", "monday") == "case"
    assert edit_type("some times", "sometimes") == "merge"
    assert edit_type("alot", "a lot") == "split"
    assert edit_type("teh", "the") == "transposition"
    assert edit_type("siter", "sister") == "omission"
    assert edit_type("sisster", "sister") == "insertion"
    assert edit_type("clob", "club") == "substitution"


def test_jsonl_pairs_and_errors(tmp_path):
    f = write(tmp_path / "eval_data.json",
              json.dumps({"input": "teh", "output": "the", "errors": ["transposition"]})
              + "\n\n" + json.dumps({"input": "a", "output": "a"}) + "\n")
    b = read_jsonl(f)
    assert b.name == "eval_data" and len(b.pairs) == 2 and b.pairs[0].errors == ["transposition"]
    write(f, '{"input": "a", "output": "a"}\n{"input": "a"}\n')
    with pytest.raises(BenchmarkError, match=r"eval_data.json:2: expected an object"):
        read_jsonl(f)
    write(f, "{nope\n")
    with pytest.raises(BenchmarkError, match=r"eval_data.json:1: not valid JSON"):
        read_jsonl(f)


def test_discovery_select_and_missing(tmp_path):
    write(tmp_path / "b1" / "corrupt.txt", "x\n")
    write(tmp_path / "b1" / "correct.txt", "x\n")
    write(tmp_path / "ukp" / "en_natural_test.txt", UKP)
    write(tmp_path / "notes.txt", "not a benchmark")
    assert [b.name for b in load_benchmarks(tmp_path)] == ["b1", "ukp"]
    assert [b.name for b in load_benchmarks(tmp_path, ["ukp"])] == ["ukp"]
    assert len(load_benchmarks(tmp_path).pop().head(1).pairs) == 1
    with pytest.raises(BenchmarkError, match="nope not found"):
        load_benchmarks(tmp_path, ["nope"])
    with pytest.raises(BenchmarkError, match="benchmark not found: .*absent"):
        load_benchmark(tmp_path / "absent")
    with pytest.raises(BenchmarkError, match="not a benchmark"):
        load_benchmark(tmp_path / "notes.txt")


EXPECTED = {"holbrook": 1277, "neuspell-bea322": 322, "neuspell-bea4660": 4660,
            "neuspell-jfleg": 1601, "ukp-realword": 467}


def test_real_benchmarks(shared_data):
    benches = {b.name: b for b in load_benchmarks(shared_data / "eval")}
    assert {k: len(b.pairs) for k, b in benches.items()} == EXPECTED
    assert benches["neuspell-bea322"].case_insensitive and not benches["neuspell-jfleg"].case_insensitive
    for b in benches.values():
        assert all(p.input.strip() and p.reference.strip() for p in b.pairs), b.name
        assert sum(p.input != p.reference for p in b.pairs) > len(b.pairs) / 2, b.name
    assert all("<ERR" not in p.input + p.reference for p in benches["holbrook"].pairs)
    assert benches["ukp-realword"].pairs[0].errors[0]["type"] == "real-word"
