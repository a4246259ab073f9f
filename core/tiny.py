"""The built-in `tiny` base model: a few-million-parameter Llama and a byte-level BPE
tokenizer trained here, saved with save_pretrained so every later stage loads it
exactly like a Hub model. Nothing is downloaded.

    python -m core.tiny --config core/configs/tiny_model.yaml out=models/base/tiny
"""
from __future__ import annotations

import hashlib
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from core.cli import run_cli, stage_parser
from core.config import ConfigError, check, load_config
from core.paths import output_path
from core.runs import atomic_path

SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# ChatML, the format SmolLM2 and Qwen3 use, so the tiny preset exercises the same path.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class TinyModelConfig:
    out: str = "models/base/tiny"
    seed: int = 0
    corpus: str = ""  # file or folder of text; empty = English that ships with Python
    vocab_size: int = 2048
    max_corpus_chars: int = 4_000_000
    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        check(self.vocab_size >= 512, f"vocab_size must be >= 512, got {self.vocab_size}")
        check(self.hidden_size % self.num_attention_heads == 0,
              "hidden_size must be divisible by num_attention_heads")
        check(self.num_attention_heads % self.num_key_value_heads == 0,
              "num_attention_heads must be divisible by num_key_value_heads")


def builtin_text() -> Iterator[str]:
    """English prose shipped with CPython: the pydoc topic texts and module docstrings."""
    from pydoc_data.topics import topics

    for key in sorted(topics):
        yield topics[key]
    import importlib

    for name in sorted(sys.stdlib_module_names):
        if name.startswith("_") or name in {"antigravity", "this", "idlelib", "tkinter", "turtledemo"}:
            continue
        try:
            mod = importlib.import_module(name)
        except Exception:  # some stdlib modules do not import everywhere; skip them
            continue
        if mod.__doc__:
            yield mod.__doc__


def corpus_text(path: str, limit: int) -> Iterator[str]:
    """Text from a file or folder (sorted, deterministic), up to `limit` characters."""
    if not path:
        yield from _capped(builtin_text(), limit)
        return
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"corpus not found: {p} (give a file or folder of text, or leave it empty)")
    files = [p] if p.is_file() else sorted(
        f for f in p.rglob("*") if f.is_file() and f.suffix in {".txt", ""})
    if not files:
        raise ConfigError(f"corpus {p} holds no .txt files")
    yield from _capped((f.read_text(encoding="utf-8", errors="replace") for f in files), limit)


def _capped(texts: Iterator[str], limit: int) -> Iterator[str]:
    total = 0
    for text in texts:
        if total >= limit:
            return
        text = text[: limit - total]
        total += len(text)
        yield text


def train_tokenizer(cfg: TinyModelConfig):
    """Byte-level BPE: any UTF-8 text (emoji included) round-trips losslessly."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    lines = [line for text in corpus_text(cfg.corpus, cfg.max_corpus_chars) for line in text.splitlines()]
    tok.train_from_iterator(lines, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|im_end|>", bos_token=None,
        unk_token=None, additional_special_tokens=["<|im_start|>", "<|endoftext|>"],
        clean_up_tokenization_spaces=False, model_max_length=cfg.max_position_embeddings,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_model(cfg: TinyModelConfig, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    mcfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, max_position_embeddings=cfg.max_position_embeddings,
        rope_theta=cfg.rope_theta, tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    model = LlamaForCausalLM(mcfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model.eval()


def weight_hash(model) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def build_tiny(cfg: TinyModelConfig, out: str | Path | None = None) -> Path:
    """Build tokenizer + model and save them to `out` atomically; returns the folder."""
    out = output_path(out or cfg.out)
    tokenizer = train_tokenizer(cfg)
    model = build_model(cfg, tokenizer)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "weights.sha256").write_text(weight_hash(model) + "\n")
    return out


def ensure_tiny(path: str | Path = "models/base/tiny", cfg: TinyModelConfig | None = None) -> Path:
    """Build the tiny base once; later calls reuse it."""
    path = output_path(path)
    if (path / "config.json").is_file() and (path / "tokenizer.json").is_file():
        return path
    return build_tiny(cfg or TinyModelConfig(), path)


def main(argv: list[str] | None = None) -> int:
    ap = stage_parser("python -m core.tiny", "Build the built-in tiny model and tokenizer.",
                      str(Path(__file__).resolve().parent / "configs" / "tiny_model.yaml"))
    args = ap.parse_args(argv)

    def body() -> int:
        out = build_tiny(load_config(TinyModelConfig, args.config, args.overrides))
        print(f"tiny model written to {out}")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
