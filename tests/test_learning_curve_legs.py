"""bench.learning_curve across legs: a run that went on from another run's snapshot is placed
after it on the CPU-hours axis (fast tier: the run folders are written here, nothing trains)."""
from __future__ import annotations

import json
from pathlib import Path


def _leg(root, name: str, init_from: str = "") -> Path:
    run = root / name
    run.mkdir()
    (run / "config.yaml").write_text(f"lora:\n  init_from: '{init_from}'\n")
    return run


def _snapshot(root, run, step: int, cpu_seconds: float):
    snap = root / f"{run.name}-snap-{step}"
    snap.mkdir()
    progress = {"step": step, "seconds": 2 * cpu_seconds, "cpu_seconds": cpu_seconds}
    (snap / "snapshot.json").write_text(json.dumps({"run": str(run), "progress": progress}))
    return snap


def test_a_later_leg_starts_at_its_snapshots_cpu_hours_and_keeps_every_earlier_leg(tmp_path):
    """A run that went on from another run's snapshot (lora.init_from) is placed after it on the
    CPU-hours axis, through every leg, and the first leg's scored steps up to the snapshot are kept."""
    from bench.learning_curve import earlier_legs, warm_start

    a = _leg(tmp_path, "a")
    (a / "curve").mkdir()
    steps = [{"step": s, "cpu_hours": s / 100, "messages_exact": 0.5, "bea_spelling_correction": 0.7,
              "bea_spelling_over": 0.001} for s in (100, 200, 300)]
    (a / "curve" / "curve.json").write_text(json.dumps({"run": "a", "steps": steps}))
    b = _leg(tmp_path, "b", str(_snapshot(tmp_path, a, 200, 7200.0)))
    c = _leg(tmp_path, "c", str(_snapshot(tmp_path, b, 50, 1800.0)))
    assert warm_start(a) == (0.0, None, 0)
    assert warm_start(b) == (2.0, a, 200)
    assert warm_start(c) == (2.5, b, 50)
    assert [(leg["run"], [r["step"] for r in leg["steps"]]) for leg in earlier_legs(b)] == [("a", [100, 200])]
    assert [leg["run"] for leg in earlier_legs(c)] == ["a"]  # b has no curve of its own yet
    (b / "curve").mkdir()
    (b / "curve" / "curve.json").write_text(json.dumps({"run": "b", "steps": [
        {**steps[0], "step": s, "cpu_hours": 2 + s / 100} for s in (25, 50, 75)]}))
    assert [(leg["run"], [r["step"] for r in leg["steps"]]) for leg in earlier_legs(c)] == \
        [("a", [100, 200]), ("b", [25, 50])]  # every leg, oldest first, each up to the next one's snapshot
    release = tmp_path / "release"
    release.mkdir()
    assert warm_start(_leg(tmp_path, "d", str(release)))[0] == 0.0  # an adapter with no snapshot.json
