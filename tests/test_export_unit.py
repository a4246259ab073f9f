"""Export stage, fast tier: recipes registry, config, sources and their errors, the
eval-length check, atomic failure, and the copy drafter."""
from __future__ import annotations

import json

import pytest

from core.config import ConfigError, load_config
from export.config import ExportConfig, pte_name
from export.recipes import UnknownRecipeError, get_recipe, recipe_names
from export.source import SourceError, resolve_source
from export.speculate import CopyDrafter


def test_recipes_registered_by_name():
    assert {"xnnpack-fp32", "xnnpack-int8", "xnnpack-int4"} <= set(recipe_names())
    assert get_recipe("xnnpack-int4").uses_group_size
    assert get_recipe("xnnpack-int8").scheme == "8da8w"


def test_unknown_recipe_lists_known_ones():
    with pytest.raises(UnknownRecipeError) as exc:
        get_recipe("xnnpack-int3")
    for name in ("xnnpack-fp32", "xnnpack-int8", "xnnpack-int4"):
        assert name in str(exc.value)


def test_cli_unknown_recipe_exits_2_with_known_names(tiny_base, capsys):
    from export.export_to_pte import main

    assert main(["--model", str(tiny_base), "--recipe", "bogus", "eval_data="]) == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "xnnpack-int8" in err


def test_config_validation_and_names():
    with pytest.raises(ConfigError, match="group_size"):
        ExportConfig(group_size=48)
    with pytest.raises(ConfigError, match="max_seq_len"):
        load_config(ExportConfig, None, ["max_seq_len=4"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(ExportConfig, None, ["max_len=4"])
    assert pte_name("typing-corrector", "xnnpack-int8") == "typing-corrector-int8.pte"


def test_config_files_load():
    from pathlib import Path

    for f in sorted(Path("export/configs").glob("*.yaml")):
        assert f.read_text().startswith("# python -m export.export_to_pte"), f
        load_config(ExportConfig, f)


def test_missing_run_dir_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="not found"):
        resolve_source(tmp_path / "nope")
    with pytest.raises(SourceError, match="neither a training run"):
        resolve_source(tmp_path)


def test_run_dir_layouts(tmp_path, tiny_base):
    import os

    run = tmp_path / "runs/train/r1"
    (run / "merged").mkdir(parents=True)
    (run / "config.yaml").write_text("x: 1\n")
    for f in tiny_base.iterdir():
        os.symlink(f, run / "merged" / f.name)
    src = resolve_source(run)
    assert src.model_dir == run.resolve() / "merged" and src.run_dir == run.resolve()
    link = tmp_path / "models/checkpoint"  # what `make export` passes
    link.parent.mkdir()
    os.symlink(run / "merged", link)
    src = resolve_source(link)
    assert src.model_dir == (run / "merged").resolve() and src.run_dir == run.resolve()


def _lora(base_dir, out):
    from peft import LoraConfig, get_peft_model

    from core.loading import load_model

    model = get_peft_model(load_model(str(base_dir)), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(out)
    return out


def test_adapter_for_a_different_base_is_rejected(tmp_path, tiny_base):
    from transformers import LlamaConfig, LlamaForCausalLM

    from export.source import load_source_model

    other = tmp_path / "other"
    LlamaForCausalLM(LlamaConfig(vocab_size=2048, hidden_size=96, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)).save_pretrained(other)
    run = tmp_path / "run"
    _lora(tiny_base, run / "adapter")
    with pytest.raises(SourceError, match="different base model"):
        load_source_model(resolve_source(run, base=str(other)))


def test_adapter_is_merged(tmp_path, tiny_base):
    import torch

    from export.source import load_source_model

    run = tmp_path / "run"
    _lora(tiny_base, run / "adapter")
    src = resolve_source(run, base=str(tiny_base))
    assert src.adapter_dir == (run / "adapter").resolve()
    merged = load_source_model(src)
    assert not any("lora" in n for n, _ in merged.named_parameters())
    ids = torch.tensor([[5, 6, 7]])
    from peft import PeftModel

    from core.loading import load_model

    ref = PeftModel.from_pretrained(load_model(str(tiny_base)), str(run / "adapter")).eval()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, ref(ids).logits, atol=1e-5)


def test_max_seq_len_too_small_for_eval_data(tmp_path, tiny_base):
    from core.loading import load_tokenizer
    from export.seqlen import SeqLenError, check_eval_fits

    tok = load_tokenizer(str(tiny_base))
    f = tmp_path / "eval.json"
    rows = [{"input": "teh cat", "output": "the cat"}, {"input": "word " * 80, "output": "word " * 80}]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert check_eval_fits(tok, f, 512) > 160
    with pytest.raises(SeqLenError, match=r"line 2 needs \d+ tokens"):
        check_eval_fits(tok, f, 64)
    f.write_text('{"input": "x"}\n')
    with pytest.raises(ConfigError, match=r"eval.json:1"):
        check_eval_fits(tok, f, 64)


def test_failed_export_leaves_nothing(tmp_path, tiny_base):
    """A failure mid-export (group size that does not divide the width 192, detected
    after loading and preparing the model) writes no file at all."""
    from export.export_to_pte import export_model

    out = tmp_path / "models"
    out.mkdir()
    with pytest.raises(ConfigError, match="group_size 128"):
        export_model(tiny_base, "xnnpack-int4", out / "m-int4.pte", max_seq_len=64, group_size=128,
                     progress=False)
    assert list(out.iterdir()) == []


# ------------------------------------------------------------------ copy drafter
SRC = [10, 11, 12, 13, 14, 15, 16, 17]


def test_drafter_copies_ahead_and_follows_accepted_tokens():
    d = CopyDrafter(SRC)
    assert d.draft([10], 3) == [11, 12, 13]
    d.advance([11, 12, 13])
    assert d.draft([10, 11, 12, 13], 3) == [14, 15, 16]
    assert d.anchors == 1  # anchored once, then followed


def test_drafter_reanchors_after_substitution_insertion_deletion():
    d = CopyDrafter(SRC)
    d.draft([10], 2)
    d.advance([11, 99])  # 12 replaced by 99: alignment lost
    assert d.draft([10, 11, 99], 2) == []  # 99 is nowhere in the source
    assert d.draft([10, 11, 99, 13], 2) == [14, 15]  # re-anchored on 13
    d.advance([14, 15, 77, 88])  # insertion of 77 88
    assert d.draft([13, 14, 15, 77, 88, 16], 2) == [17]  # re-anchor on 16, end of source
    d2 = CopyDrafter(SRC)
    assert d2.draft([12], 2) == [13, 14]
    d2.advance([13, 15])  # 14 deleted
    assert d2.draft([12, 13, 15], 2) == [16, 17]


def test_drafter_prefers_the_occurrence_ahead_of_the_alignment():
    src = [1, 5, 2, 3, 5, 4, 6, 5, 7]
    d = CopyDrafter(src, max_ngram=1)
    assert d.draft([5], 1) == [7]  # no alignment yet: the last occurrence (the input is last)
    d = CopyDrafter(src, max_ngram=1)
    d.draft([3], 1)
    d.advance([5, 9])  # aligned to 5 at index 4, then an edit
    assert d.draft([3, 5, 9, 5], 1) == [7]  # next 5 ahead of index 5 is at index 7
    assert CopyDrafter(src).draft([3], 0) == []


def test_documented_custom_sdpa_recipe_says_why_it_cannot_run(tmp_path):
    from export.export_to_pte import export_model
    from export.recipes import RecipeUnavailableError

    assert "optimum-xnnpack-int4-sdpa" in recipe_names()
    with pytest.raises(RecipeUnavailableError, match="optimum-executorch"):
        export_model(tmp_path / "whatever", "optimum-xnnpack-int4-sdpa", tmp_path / "x.pte", progress=False)


def test_drafter_started_drafts_before_anything_is_generated():
    d = CopyDrafter(SRC)
    assert d.draft([], 3) == []  # not started: nothing to anchor on
    d.start()
    assert d.draft([], 3) == SRC[:3]
    d.advance(SRC[:2])
    assert d.draft(SRC[:2], 2) == SRC[2:4]


def test_prompt_span_covers_exactly_the_text(tiny_base):
    from core.loading import load_tokenizer
    from core.prompt import prompt_ids, prompt_ids_and_span

    tok = load_tokenizer(str(tiny_base))
    for text in ["Teh cat sat on teh mat", " leading space", "naïve café", "x", "<|im_end|> in text"]:
        ids, (b, e) = prompt_ids_and_span(tok, text)
        assert ids == prompt_ids(tok, text)
        assert tok.decode(ids[b:e]) == text
        assert tok.decode(ids[:b]).endswith("user\n") and tok.decode(ids[e:]).startswith("<|im_end|>")


def test_attention_auto_is_lean_where_supported_and_recipes_keep_their_own():
    from types import SimpleNamespace

    from export import attention, lean_attention, lower

    def model(kind):
        return SimpleNamespace(config=SimpleNamespace(model_type=kind))

    plain = get_recipe("xnnpack-int4")
    for kind in ("llama", "gemma3_text", "qwen3"):
        assert attention.resolve(plain, model(kind), "auto") == (lean_attention.prepare_model, True, "lean")
    assert attention.resolve(plain, model("mistral"), "auto") == (lower.prepare_model, False, "static")
    assert attention.resolve(plain, model("llama"), "static") == (lower.prepare_model, False, "static")
    sdpa = get_recipe("xnnpack-int4-sdpa")
    assert attention.resolve(sdpa, model("llama"), "auto")[2] == "custom-sdpa"
    with pytest.raises(ConfigError, match="brings its own attention"):
        attention.resolve(sdpa, model("llama"), "lean")
    with pytest.raises(ConfigError, match="attention must be"):
        attention.resolve(plain, model("llama"), "fast")
    with pytest.raises(ConfigError, match="attention must be auto, lean or static"):
        ExportConfig(attention="fast")
