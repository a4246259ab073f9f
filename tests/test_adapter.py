"""A LoRA adapter trained anywhere (here: saved by plain `peft`, not our trainer) is accepted
by eval, export and bench: `core.loading.merge_adapter` merges it onto its base once, into a
cached plain model folder, and `make eval|export ADAPTER=...` use that folder."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from core.loading import ModelLoadError, main, merge_adapter

REPO = Path(__file__).resolve().parents[1]


def _plain_peft_adapter(base: Path, out: Path, seed: int = 0) -> Path:
    """What a user gets from `peft` alone: get_peft_model + save_pretrained, with non-zero B
    matrices (a freshly initialised LoRA is a no-op, which would hide a missing merge)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                     task_type="CAUSAL_LM")
    peft_model = get_peft_model(model, cfg)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    peft_model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def peft_adapter(tiny_base, tmp_path_factory) -> Path:
    return _plain_peft_adapter(tiny_base, tmp_path_factory.mktemp("peft") / "typo-lora")


def _logits(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits


def _set_recorded_base(adapter: Path, base: str, out: Path) -> Path:
    shutil.copytree(adapter, out)
    cfg_file = out / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = base
    cfg_file.write_text(json.dumps(cfg))
    return out


def test_plain_peft_adapter_merges_like_peft_and_is_cached(peft_adapter, tiny_base, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert not (peft_adapter / "tokenizer_config.json").exists()  # plain peft saves no tokenizer
    merged = merge_adapter(peft_adapter, cache=tmp_path / "merged")
    assert merged.parent == (tmp_path / "merged").resolve() and merged.name.startswith("typo-lora-")
    assert (merged / "tokenizer_config.json").is_file()  # the base's tokenizer came along
    record = json.loads((merged / "merge.json").read_text())
    assert record["base"] == str(tiny_base) and len(record["adapter_sha256"]) == 64

    ids = torch.randint(5, 2000, (2, 12))
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32).eval()
    base_logits = _logits(base, ids)
    want = _logits(PeftModel.from_pretrained(base, str(peft_adapter)).eval(), ids)
    got = _logits(AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval(), ids)
    assert not (merged / "adapter_config.json").exists()  # a plain transformers folder
    assert torch.allclose(got, want, atol=1e-4) and not torch.allclose(got, base_logits, atol=1e-3)

    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    assert merge_adapter(peft_adapter, cache=tmp_path / "merged") == merged  # cached: not merged again
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp


def test_release_without_the_tokenizer_merges_with_the_bases_and_its_instruction(peft_adapter, tmp_path):
    """A release keeps only tokenizer_config.json (the base's tokenizer.json can be 33 MB): the
    merge takes the base's tokenizer and puts the adapter's recorded instruction on it."""
    from core.loading import load_tokenizer
    from core.prompt import INSTRUCTION_KEY, instruction

    slim = tmp_path / "slim-lora"
    shutil.copytree(peft_adapter, slim)
    (slim / "tokenizer_config.json").write_text(json.dumps({INSTRUCTION_KEY: "Fix it all."}))
    tok = load_tokenizer(str(merge_adapter(slim, cache=tmp_path / "merged")))
    assert instruction(tok) == "Fix it all." and len(tok) > 1000
    (slim / "tokenizer_config.json").write_text(json.dumps({INSTRUCTION_KEY: "Fix more."}))  # same cache
    assert instruction(load_tokenizer(str(merge_adapter(slim, cache=tmp_path / "merged")))) == "Fix more."
    (slim / "tokenizer_config.json").write_text(json.dumps({INSTRUCTION_KEY: 7}))
    with pytest.raises(ModelLoadError, match="typo_instruction must be a string"):
        merge_adapter(slim, cache=tmp_path / "merged2")


def test_unloadable_recorded_base_falls_back_to_the_preset(peft_adapter, tiny_base, tmp_path, capsys):
    """An adapter trained on another machine records a base path this one lacks: the preset's
    base is used instead, through the same CLI `make` calls."""
    moved = _set_recorded_base(peft_adapter, "/nonexistent/trainer-box/base", tmp_path / "moved-lora")
    with pytest.raises(ModelLoadError, match="PRESET"):
        merge_adapter(moved, cache=tmp_path / "merged")
    preset = tmp_path / "preset.yaml"
    preset.write_text(f"model:\n  base: {tiny_base}\n  full_finetune: false\n")
    argv = ["merge", str(moved), "--preset-config", str(preset), "--cache", str(tmp_path / "merged")]
    assert main(argv) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert len(lines) == 1 and Path(lines[0]).is_dir()  # stdout: the folder alone (make captures it)
    assert "does not load here" in out.err
    assert json.loads((Path(lines[0]) / "merge.json").read_text())["base"] == str(tiny_base)


def _other_base(tiny_base: Path, out: Path, **changes) -> Path:
    """A model of another shape with the tiny tokenizer (no training needed)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.from_pretrained(tiny_base)
    for k, v in changes.items():
        setattr(cfg, k, v)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(out)
    for f in tiny_base.iterdir():
        if "token" in f.name or f.name == "special_tokens_map.json":
            shutil.copy(f, out / f.name)
    return out


@pytest.mark.parametrize("changes", [
    {"hidden_size": 96, "intermediate_size": 256, "num_attention_heads": 6, "num_key_value_heads": 2},
    {"num_hidden_layers": 2},  # same widths, fewer layers: peft would load half the adapter silently
], ids=["other-widths", "fewer-layers"])
def test_adapter_for_another_base_is_refused(peft_adapter, tiny_base, tmp_path, changes):
    other = _other_base(tiny_base, tmp_path / "other", **changes)
    wrong = _set_recorded_base(peft_adapter, str(other), tmp_path / "wrong-lora")
    with pytest.raises(ModelLoadError, match="does not fit"):
        merge_adapter(wrong, cache=tmp_path / "merged")
    assert not any((tmp_path / "merged").glob("wrong-lora-*"))  # nothing half-written


def test_not_an_adapter_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        merge_adapter(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="adapter_config.json"):
        merge_adapter(tmp_path / "empty")


def run_in_group(cmd: list[str], cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group, so a timeout also ends the processes it started
    (subprocess.run's timeout kills only the first one: the stages would run on)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _make(*args: str, cwd: Path = REPO, timeout: int = 1500) -> subprocess.CompletedProcess:
    # -o setup: the .venv is installed already; never reinstall it from a test
    return run_in_group(["make", "-o", "setup", *args], cwd, timeout)


@pytest.mark.integration
def test_make_eval_and_export_accept_a_plain_peft_adapter(peft_adapter, tiny_pairs, tmp_path):
    """`make eval ADAPTER=...` and `make export ADAPTER=...`, every output pointed at tmp_path
    (the checkout's runs/, models/ and root metrics.json are left alone)."""
    cache = tmp_path / "merged"
    ev = _make("eval", f"ADAPTER={peft_adapter}", f"ADAPTER_CACHE={cache}", "PRESET=tiny",
               f"EVAL_DATA={tiny_pairs / 'eval_data.json'}",
               f"ARGS=runs_root={tmp_path / 'runs'} root_copy= own_pairs= limit=4 backends=[hf,identity] "
               f"run_name=adapter")
    assert ev.returncode == 0, ev.stdout[-2000:] + ev.stderr[-3000:]
    merged = next(cache.glob("typo-lora-*"))
    metrics = json.loads((tmp_path / "runs" / "eval" / "adapter" / "metrics.json").read_text())
    assert Path(metrics["model"]).resolve() == merged.resolve()

    ex = _make("export", f"ADAPTER={peft_adapter}", f"ADAPTER_CACHE={cache}", "PRESET=tiny",
               f"ARGS=out_dir={tmp_path / 'models'} recipes=[xnnpack-fp32] eval_data= max_seq_len=128")
    assert ex.returncode == 0, ex.stdout[-2000:] + ex.stderr[-3000:]
    meta = json.loads((tmp_path / "models" / "typing-corrector-fp32.json").read_text())
    assert Path(meta["source"]["model_dir"]).resolve() == merged.resolve()
    assert (tmp_path / "models" / "typing-corrector-fp32.pte").stat().st_size > 0
    assert len(list(cache.iterdir())) == 1  # eval and export shared one merge


@pytest.mark.integration
def test_make_bench_exports_the_adapter_first(peft_adapter, tiny_pairs, host_runner, tmp_path):
    """`make bench ADAPTER=...` exports the adapter's .pte files when models/ holds none made
    from it, then benches them; a second call reuses them. Runs in a copy of the tree (the bench
    target reads models/ and data/ of the checkout it runs in)."""
    from tests.test_demo import _ignore

    tree = tmp_path / "repo"
    shutil.copytree(REPO, tree, ignore=_ignore)
    (tree / ".venv").symlink_to(REPO / ".venv")
    (tree / "data").mkdir()
    shutil.copy(tiny_pairs / "eval_data.json", tree / "data" / "eval_data.json")
    cache = tmp_path / "merged"
    args = [f"ADAPTER={peft_adapter}", f"ADAPTER_CACHE={cache}", "PRESET=tiny", "DEVICES=host", "RUN=adapter",
            f"ARGS=runner_host={host_runner} reports_dir={tmp_path / 'reports'} limit=3 reps=1 warmup=0 "
            "max_new_tokens=16 modes=[plain] baselines=[identity]"]
    first = _make("bench", *args, cwd=tree)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert [ln for ln in first.stdout.splitlines() if ln.startswith("bench: models/")]  # exported first
    merged = next(cache.glob("typo-lora-*")).resolve()
    for tag in ("int8", "int4"):
        meta = json.loads((tree / "models" / f"typing-corrector-{tag}.json").read_text())
        assert Path(meta["source"]["model_dir"]).resolve() == merged
    report = json.loads((tmp_path / "reports" / "adapter" / "report.json").read_text())
    assert {u["model"] for u in report["units"]} == {"typing-corrector-int8", "typing-corrector-int4"}

    # again, dry (-n): make still runs the check line (it calls $(MAKE)), which now finds the
    # .pte files made from this adapter and asks for no export
    again = _make("-n", "bench", *args, cwd=tree, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    # -n prints the recipe (its echo included) but what the check line says begins a line
    assert not [ln for ln in again.stdout.splitlines() if ln.startswith("bench: models/")], again.stdout
    assert "device_bench run" in again.stdout
