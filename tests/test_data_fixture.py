"""The `tiny_pairs` fixture other stages train on: sizes, format, short outputs, clean share."""
import json


def test_tiny_pairs_shape(tiny_pairs):
    rows = {s: [json.loads(line) for line in (tiny_pairs / f"{s}_data.json").read_text().splitlines()]
            for s in ("train", "eval")}
    assert len(rows["train"]) == 4000 and len(rows["eval"]) == 200
    for split in rows.values():
        for r in split:
            assert isinstance(r["input"], str) and isinstance(r["output"], str)
            assert len(r["output"].split()) <= 20
        clean = sum(r["input"] == r["output"] for r in split) / len(split)
        assert 0.12 <= clean <= 0.3
    train_out = {r["output"] for r in rows["train"]}
    assert not train_out & {r["output"] for r in rows["eval"]}  # no eval sentence in training
    stats = json.loads((tiny_pairs.parent / "runs/data/tiny/stats.json").read_text())
    assert stats["pairs"] == {"train": 4000, "eval": 200}
