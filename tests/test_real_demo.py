"""`make demo-real`'s stage commands are what the stages accept: the bench overrides load through
the bench's typed config, the eval's benchmark list through the evaluation's reader, and the main
bench set is the typed-messages dev set (full text) with BEA-4660 as the real spelling slice.
(The stages themselves need the real model: `make demo-real` runs them.)"""
from __future__ import annotations

import json

from core.config import load_config
from device_bench.config import CONFIG_DIR, BenchConfig
from evaluation.eval_sets import load_benchmarks
from pipeline import real_demo


def _overrides(argv: list[str]) -> list[str]:
    return [a for a in argv if "=" in a and not a.startswith("-")]


def test_stage_commands_parse_and_use_the_messages_set(tmp_path, shared_data):
    pairs = real_demo.pairs_file(real_demo.MESSAGES, 7, tmp_path / "messages-7.jsonl")
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    assert len(rows) == 7 and all(set(r) == {"input", "output"} for r in rows)
    cmds = real_demo.commands("r", "models/m", real_demo.BEA, real_demo.MESSAGES, pairs, 7)
    cfg = load_config(BenchConfig, CONFIG_DIR / "default.yaml", _overrides(cmds["bench"]))
    assert cfg.text_mode and not cfg.case_insensitive  # the messages are scored on the full text
    assert cfg.real_eval == real_demo.BEA and cfg.real_limit == 7
    spec = cmds["eval"][cmds["eval"].index("--benchmarks") + 1]
    sets = load_benchmarks(str(real_demo.REPO_ROOT / spec.split(",")[0]) + ","
                           + str(real_demo.REPO_ROOT / spec.split(",")[1]))
    assert [s.name for s in sets] == ["messages", "neuspell-bea4660"]
    assert sets[0].fixes != sets[1].fixes  # full text against spelling only
    assert real_demo.ADAPTER.endswith("-v2")
    assert cfg.dictionary  # the pass runs on the device, as in an app
    assert "bench-arm64" not in cmds  # no arm64 slice asked


def test_arm64_stage_benches_the_same_files_on_an_emulated_arm64_device(tmp_path, shared_data):
    pairs = real_demo.pairs_file(real_demo.MESSAGES, 3, tmp_path / "messages-3.jsonl")
    cmds = real_demo.commands("r", "models/m", real_demo.BEA, real_demo.MESSAGES, tmp_path / "all.jsonl", 0,
                              arm64_pairs=pairs, arm64_limit=3)
    argv = cmds["bench-arm64"]
    assert argv[argv.index("--arm64") + 1] == "cortex-a76" and argv[argv.index("--run") + 1] == "r-arm64"
    assert argv[argv.index("--eval") + 1] == str(pairs)
    models = argv[argv.index("--models") + 1:argv.index("--eval")]
    assert models == cmds["bench"][cmds["bench"].index("--models") + 1:cmds["bench"].index("--eval")]
    cfg = load_config(BenchConfig, CONFIG_DIR / "default.yaml", _overrides(argv))
    assert cfg.real_limit == 3 and cfg.dictionary and cfg.text_mode
    assert [s for s in real_demo.STAGES if s in cmds] == list(real_demo.STAGES[1:])


def test_limit_zero_takes_every_pair_as_eval_and_bench_do(tmp_path):
    pairs = real_demo.pairs_file(real_demo.MESSAGES, 0, tmp_path / "messages-0.jsonl")
    assert len(pairs.read_text().splitlines()) == len(load_benchmarks(
        str(real_demo.REPO_ROOT / real_demo.MESSAGES))[0].pairs) >= 300


def test_a_new_model_starts_the_eval_fresh(tmp_path):
    # a new release adapter merges to another folder: the eval's cached outputs of the old one
    # would be refused (evaluation.run.open_cache), so the demo passes fresh=true
    assert real_demo.model_changed(tmp_path, "models/merged/a") is False  # no eval yet
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    baseline = {"backend": "identity", "model": {"path": None}, "options": {}}  # as evaluation writes it
    (outputs / "messages__identity.key.json").write_text(json.dumps(baseline))
    (outputs / "messages__hf.key.json").write_text(json.dumps(
        {"backend": "hf", "model": {"path": "models/merged/a", "sha256": "0" * 64}}))
    assert real_demo.model_changed(tmp_path, "models/merged/a") is False  # same model: resume
    assert real_demo.model_changed(tmp_path, "models/merged/b") is True
    assert real_demo.model_changed(tmp_path, "models/merged/b") is True  # until the eval rewrites the keys
    args = ("r", "m", real_demo.BEA, real_demo.MESSAGES, tmp_path / "p.jsonl", 7)
    assert real_demo.commands(*args, True)["eval"][-1] == "fresh=true"
    assert "fresh=true" not in real_demo.commands(*args)["eval"]


def test_another_base_gets_its_own_files_and_note(tmp_path):
    # the base bake-off (issue 26): a Gemma adapter goes through the same stages under its own name
    about = real_demo.note("runs/train/gemma-cpu/adapter", "train/configs/gemma.yaml")
    assert "gemma.yaml" in about and "runs/train/gemma-cpu/adapter" in about and "SmolLM2" not in about
    cmds = real_demo.commands("r", "m", real_demo.BEA, real_demo.MESSAGES, tmp_path / "p.jsonl", 7,
                              name="gemma-typo", about=about)
    assert "name=gemma-typo" in cmds["export"]
    models = cmds["bench"][cmds["bench"].index("--models") + 1:cmds["bench"].index("--eval")]
    assert models == ["models/real/gemma-typo-int8.pte", "models/real/gemma-typo-int4.pte"]
    assert f"note={about}" in cmds["bench"]
    assert "SmolLM2" in real_demo.note(real_demo.ADAPTER, real_demo.PRESET)
