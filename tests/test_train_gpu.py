"""GPU tier: the real preset path (train/configs/smollm2-135m.yaml: bf16, fused AdamW,
regional torch.compile, packed 512-token rows, eval with generate, merge, save) on a
random-init model of the SmolLM2-135M shape with the tiny tokenizer (no download).

    pytest -m gpu tests/test_train_gpu.py
    python tests/test_train_gpu.py DATA_DIR TOKENIZER_DIR OUT_DIR   # where pytest is absent
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

try:
    import pytest
except ImportError:  # script mode on a bare GPU machine
    pytest = None

REPO = Path(__file__).resolve().parents[1]


def smollm2_shaped(tok_dir: Path, out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tok_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
                      num_key_value_heads=3, intermediate_size=1536, tie_word_embeddings=True,
                      max_position_embeddings=2048, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def check_preset_on_gpu(data: Path, tok_dir: Path, tmp: Path) -> dict:
    from core.config import load_config
    from train.config import TrainConfig
    from train.train import train

    base = smollm2_shaped(tok_dir, tmp / "base")
    cfg = load_config(TrainConfig, REPO / "train/configs/smollm2-135m.yaml", [
        f"model.base={base}", f"data.train={data / 'train_data.json'}",
        f"data.eval={data / 'eval_data.json'}",
        f"output.root={tmp / 'runs'}", f"output.link={tmp / 'models' / 'checkpoint'}", "run_name=gpu",
        "train.max_steps=60", "eval.every=30", "eval.samples=32", "checkpoint.every=30", "train.device=cuda",
        "optim.lr=2e-3", "optim.warmup_steps=10"])
    run = train(cfg)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["device"].startswith("cuda") and summary["dtype"] == "bfloat16"
    assert summary["final_loss"] < summary["first_loss"]
    assert (run / "adapter" / "adapter_config.json").is_file() and (run / "merged" / "config.json").is_file()
    return summary


def test_smollm2_preset_path_on_gpu(tmp_path, tiny_pairs, tiny_base):
    check_preset_on_gpu(tiny_pairs, tiny_base, tmp_path)


if pytest is not None:
    test_smollm2_preset_path_on_gpu = pytest.mark.gpu(test_smollm2_preset_path_on_gpu)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    print(json.dumps(check_preset_on_gpu(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])), indent=2))
