"""Realism report: edit alignment, profiles, and the tuned defaults against the real lists."""
from __future__ import annotations

import json

import pytest

from core.config import load_config
from datagen import DataConfig
from datagen.edits import edit_ops, position_bucket
from datagen.noise import NoiseConfig, Noiser
from datagen.realism import distance, generated_pairs, main, profile
from tests.fixtures.base import REPO


@pytest.mark.parametrize("correct,wrong,ops", [
    ("receive", "recieve", [("trans", 3)]), ("hello", "helo", [("del", 2)]),
    ("hello", "helllo", [("ins", 2)]), ("cat", "cut", [("sub", 1)]), ("the", "teh", [("trans", 1)]),
    ("same", "same", []), ("a", "", [("del", 0)]), ("", "ab", [("ins", 0), ("ins", 0)]),
])
def test_edit_ops(correct, wrong, ops):
    assert edit_ops(correct, wrong) == ops


def test_position_bucket():
    assert [position_bucket(i, 5) for i in range(5)] == ["first", "middle", "middle", "middle", "last"]


def test_profile_counts_shares():
    p = profile([("receive", "recieve"), ("hello", "helo"), ("cat", "cut"), ("cat", "CAT"), ("abc", "xyz")])
    assert p["words"] == 4  # the case-only change is not a misspelling
    assert p["ops"] == {"substitution": 4 / 6, "deletion": 1 / 6, "insertion": 0.0, "transposition": 1 / 6}
    assert p["edits_hist"] == {1: 0.75, 2: 0.0, 3: 0.25}
    assert distance(p, p) == 0.0


def test_generated_pairs_are_the_changed_words():
    cfg = NoiseConfig(omission=1.0, **{k: 0.0 for k in ("adjacent_key", "insertion", "transposition",
                                                        "double_letter", "misspelling")}, extra_typo=0.0,
                      short_word_typo=1.0)
    pairs = generated_pairs(Noiser(cfg), ["The quick brown fox jumps."], seed=0)
    assert [w for w, _ in pairs] == ["the", "quick", "brown", "fox", "jumps"]
    assert all(len(n) == len(w) - 1 for w, n in pairs)


def test_report_cli_on_small_lists(tmp_path, capsys):
    (tmp_path / "a.dat").write_text("$because\nbecuase\nbecaus\n$believe\nbeleive\n")
    out_json = tmp_path / "r.json"
    assert main(["--misspellings", str(tmp_path), "--sentences", "300", "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    for row in ("substitution share", "transposition share", "edits per word", "edit at first letter"):
        assert row in text
    data = json.loads(out_json.read_text())
    assert data["columns"]["a"]["words"] == 3 and data["columns"]["generated prose"]["words"] > 20
    assert main(["--misspellings", str(tmp_path / "missing")]) == 2


@pytest.mark.integration
def test_tuned_defaults_are_close_to_real_misspellings(shared_data):
    """The default rates were tuned with this report: keep them there (L1 distance over
    op shares, edits-per-word shares and edit positions vs the mean of the real lists)."""
    from datagen.realism import report

    cfg = load_config(DataConfig, REPO / "datagen/configs/default.yaml")
    out = report(shared_data / "misspellings", cfg, sentences=4000)
    assert out["distance"]["generated prose vs mean of lists"] < 0.3, out["columns"]["generated prose"]


@pytest.mark.integration
def test_messages_profile_reports_typing_habits(shared_data):
    """The messages mix: its word edits stay near the real lists, and its sentence-level habits
    (lower-case start, no final mark, dropped apostrophes) sit near the typed dev set's."""
    from datagen.realism import report

    cfg = load_config(DataConfig, REPO / "datagen/configs/messages.yaml")
    out = report(shared_data / "misspellings", cfg, sentences=3000)
    assert out["distance"]["generated messages vs mean of lists"] < 0.35
    gen, typed = out["typing"]["generated messages"], out["typing"]["typed: messages"]
    assert typed["messages"] > 300
    for k in ("lower-case start", "no final . ! ?"):
        assert abs(gen[k] - typed[k]) < 0.2, (k, gen[k], typed[k])
