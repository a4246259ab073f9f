"""Source readers and text cleaning, on small files the tests write themselves."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from datagen.config import SourceConfig
from datagen.decontam import dedup_key, load_eval_keys
from datagen.misspellings import load_misspellings, word_pairs
from datagen.sources import DataError, expand, hf_units, source_units
from datagen.text import CleanConfig, normalize, reject_reason, split_sentences, strip_gutenberg


def units(kind: str, path: Path | str = "", bad_lines: str = "auto", max_line: int = 100_000, **kw) -> list:
    raw = source_units(SourceConfig(kind=kind, path=str(path), **kw), bad_lines, max_line)
    return [u for unit in raw for u in expand(unit)]  # text files come as blocks, expanded in workers


def test_running_text_joins_wrapped_lines_into_paragraphs(tmp_path):
    f = tmp_path / "book.txt"
    f.write_text("It was a dark and\nstormy night. The rain fell.\n\nA new paragraph\nstarts here.\n")
    got = units("text", f, format="running")
    assert [u[:2] for u in got] == [("text", "It was a dark and stormy night. The rain fell."),
                                    ("text", "A new paragraph starts here.")]
    assert got[1][3] == f"{f}:4"  # where = file:first line of the paragraph


def test_auto_format_picks_lines_for_one_unit_per_line(tmp_path):
    f = tmp_path / "lines.txt"
    f.write_text("\n".join(f"sentence number {i} is here" for i in range(50)) + "\n")
    got = units("text", f)
    assert len(got) == 50 and got[3][1] == "sentence number 3 is here" and got[3][3] == f"{f}:4"


def test_folder_is_read_sorted_and_hidden_files_skipped(tmp_path):
    (tmp_path / "b.txt").write_text("Second file here.\n")
    (tmp_path / "a.txt").write_text("First file here.\n")
    (tmp_path / ".hidden.txt").write_text("Never read.\n")
    (tmp_path / "data.bin").write_bytes(b"\x00\x01")
    assert [u[1] for u in units("text", tmp_path)] == ["First file here.", "Second file here."]


def test_missing_and_empty_sources_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="nope.txt: no such file"):
        units("text", tmp_path / "nope.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no readable files"):
        units("text", tmp_path / "empty")


def test_non_utf8_text_line_is_a_counted_skip_or_an_error(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_bytes(b"A good line of text.\n\nBad \xff\xfe bytes here.\n\nAnother good line.\n")
    got = units("text", f)
    assert ("skip", "not_utf8", None, f"{f}:3") in got
    assert [u[1] for u in got if u[0] == "text"] == ["A good line of text.", "Another good line."]
    with pytest.raises(DataError, match=r"bad.txt:3: not UTF-8"):
        units("text", f, bad_lines="error")


def test_absurdly_long_line_is_skipped_and_named(tmp_path):
    f = tmp_path / "long.txt"
    f.write_text("Short line one.\n\n" + "word " * 50_000 + "\n\nShort line two.\n")
    got = units("text", f, max_line=10_000)
    assert ("skip", "line_too_long", None, f"{f}:3") in got
    assert len([u for u in got if u[0] == "text"]) == 2


def test_gutenberg_header_and_footer_are_stripped(tmp_path):
    book = ["The Project Gutenberg EBook of Things", "licence blah",
            "*** START OF THIS PROJECT GUTENBERG EBOOK ***",
            "Real text.", "*** END OF THIS PROJECT GUTENBERG EBOOK ***", "more licence",
            "The Project Gutenberg EBook of Other", "*** START OF THE PROJECT GUTENBERG EBOOK ***",
            "Second book."]
    lines, skipping = strip_gutenberg([f"{b}\n".encode() for b in book])
    assert [line.decode().strip() for line in lines if line] == ["Real text.", "Second book."]
    assert not skipping
    assert len(lines) == len(book)  # blanked, not removed: line numbers stay right
    assert strip_gutenberg([b"plain\n", b"text\n"]) == ([b"plain\n", b"text\n"], False)
    assert strip_gutenberg([b"carried over\n"], skipping=True) == ([b""], True)
    f = tmp_path / "book.txt"
    f.write_text("\n\n".join(book) + "\n")
    got = units("text", f, format="running")
    assert [u[1] for u in got] == ["Real text.", "Second book."] and got[1][3] == f"{f}:17"


def test_normalize_nfc_quotes_whitespace_and_markup():
    assert normalize("Cafe\u0301  \u201cquoted\u201d\tit\u2019s\n") == "Caf\u00e9 \"quoted\" it's"
    assert normalize("<p>Some <b>bold</b> _text_ -- here</p>") == "Some bold text - here"
    assert normalize("Use :func:`len` and ``x + 1``.") == "Use len and `x + 1`."


def test_split_sentences_respects_abbreviations():
    text = 'Mr. Smith went to St. Louis. "Why?" she asked. It was 5 p.m. Then J. R. left!'
    assert split_sentences(text) == [
        "Mr. Smith went to St. Louis.", '"Why?" she asked.', "It was 5 p.m.", "Then J. R. left!"]


@pytest.mark.parametrize("text,reason", [
    ("Too short.", "too_short"), ("This is a perfectly normal sentence.", None),
    ("CHAPTER ONE IS HERE NOW", "not_prose"), ("x = f(a) + g(b) for all of them.", "not_prose"),
    ('He said "hello to everyone.', "unbalanced"), ("Table of Contents and Index", "fragment"),
    ("word " * 50 + "end.", "too_long"), (">>> print('hi there all')", "not_prose"),
    ("i am fine thank you", None),
])
def test_reject_reason(text, reason):
    assert reject_reason(text.strip(), CleanConfig()) == reason


def test_pairs_jsonl_csv_tsv(tmp_path):
    (tmp_path / "p.jsonl").write_text(json.dumps({"input": "helo", "output": "Hello."}) + "\n\n"
                                      + json.dumps({"input": "a", "output": "A.", "extra": 1}) + "\n")
    (tmp_path / "p.csv").write_text('output,input\n"Hello, you.","helo you"\n')
    (tmp_path / "p.tsv").write_text("teh cat\tThe cat.\n")
    got = units("pairs", tmp_path)
    assert [u[1:3] for u in got] == [("helo you", "Hello, you."), ("helo", "Hello."), ("a", "A."),
                                     ("teh cat", "The cat.")]
    assert got[2][3] == f"{tmp_path / 'p.jsonl'}:3"


def test_bad_jsonl_line_names_file_and_line(tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text('{"input": "a", "output": "A."}\n{"input": "b"}\nnot json\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: missing key 'output'"):
        units("pairs", f)
    f.write_text('{"input": "a", "output": "A."}\nnot json\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: not valid JSON"):
        units("pairs", f)
    got = units("pairs", f, bad_lines="skip")
    assert got[1] == ("skip", "bad_pair", None, f"{f}:2")


def test_hf_dataset_text_and_pairs():
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": ["First row. Second sentence.", "", "Third."], "id": [1, 2, 3]})
    src = SourceConfig(kind="hf", path="local")
    assert [u[1] for u in hf_units(ds, src, pairs=False)] == ["First row. Second sentence.", "Third."]
    with pytest.raises(DataError, match="no column 'body'"):
        list(hf_units(ds, SourceConfig(kind="hf", path="local", column="body"), pairs=False))
    c4 = datasets.Dataset.from_dict({"input": ["teh dog"], "output": ["The dog."]})
    assert [u[1:3] for u in hf_units(c4, SourceConfig(kind="hf_pairs", path="c4"), pairs=True)] == [
        ("teh dog", "The dog.")]


def test_hf_saved_dataset_folder_loads_offline(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"sentence": ["A saved row here."]}).save_to_disk(str(tmp_path / "ds"))
    got = units("hf", tmp_path / "ds", column="sentence")
    assert [u[1] for u in got] == ["A saved row here."]


def test_builtin_sources():
    every = units("everyday", limit=100)
    assert len(every) == 100 and all(u[0] == "sent" for u in every)
    assert len({u[1] for u in every}) == 100
    py = units("python", limit=50)
    assert len(py) == 50 and all(u[0] == "text" and u[1].strip() for u in py)


def test_misspelling_list_readers(tmp_path):
    (tmp_path / "a.dat").write_text("$because\nbecuase\nbecaus 3\n$?\nxx\n")
    (tmp_path / "toefl.tsv").write_text("Filename\tOffsetSpan\tMisspelling\tType\tCorrection\n"
                                        "1\t1-2\tbeleive\tM\tbelieve\n")
    (tmp_path / "spell-testset1.txt").write_text("tests1 = {'access': 'acess acces'}\n")
    pairs = word_pairs(tmp_path)
    assert pairs["a.dat"] == [("because", "becuase"), ("because", "becaus")]
    assert pairs["toefl.tsv"] == [("believe", "beleive")]
    assert pairs["spell-testset1.txt"] == [("access", "acess"), ("access", "acces")]
    assert load_misspellings(tmp_path)["because"] == ["becaus", "becuase"]
    with pytest.raises(DataError, match="not found"):
        word_pairs(tmp_path / "missing")


def test_eval_set_readers(tmp_path):
    (tmp_path / "correct.txt").write_text("this is the first eval sentence\n")
    (tmp_path / "holbrook.dat").write_text("I have a <ERR targ=sister> siter </ERR> at home now.\n")
    (tmp_path / "ukp.txt").write_text("1\n22\nson\nsun\n4\nThe son is shining brightly today.\n\n")
    (tmp_path / "e.json").write_text(json.dumps({"input": "x", "output": "A json eval output sentence."})
                                     + "\n")
    keys, per_file = load_eval_keys([tmp_path])
    for s in ["This is the first eval sentence.", "I have a sister at home now.",
              "The sun is shining brightly today.", "A json eval output sentence"]:
        assert dedup_key(s) in keys, s
    assert set(per_file) == {str(tmp_path / n) for n in ("correct.txt", "holbrook.dat", "ukp.txt", "e.json")}
    with pytest.raises(DataError, match="not found"):
        load_eval_keys([tmp_path / "nope"])


def test_dedup_key_ignores_case_punctuation_and_tokenisation():
    assert dedup_key("I don't know, really!") == dedup_key("i do n't know really") == "idontknowreally"
