"""Vocabulary trim for export (export/vocab_trim.py, issue 26): on the real Gemma 3 270M
tokenizer, a corpus of typing-like sentences (never the evaluation sets) chooses the tokens;
every evaluation text still round-trips, in HF `tokenizers` and in the C++ tokenizer; corpus
text tokenizes to the same tokens; the sliced model's logits are the full model's at the kept
ids; bad config values are named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from export import vocab_trim as vt
from export.config import ExportConfig
from tests.fixtures.corrector_cpp import GEMMA_GLOB, ROOT, Tool, base_folder, build
from tests.test_corrector_cpp import eval_sets

CORPUS_LINES = 12_000  # of WordNet's example sentences: seconds to tokenize, ~9k tokens kept
# what byte fallback must carry: emoji (with ZWJ and skin tone), CJK, rare symbols, RTL, combining marks
RARE = ["ok 👍🏽 see you 👨‍👩‍👧", "東京で会いましょう", "price: ₹250 ≈ €3 ±0.5‰", "שלום and مرحبا",
        "cafe\u0301 na\u00efve", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∮ E⋅da = Q", "tab\there\r\nline", "\u200bzero width\ufeff"]


@pytest.fixture(scope="module")
def gemma() -> Path:
    folder = base_folder(GEMMA_GLOB)
    if folder is None:
        pytest.skip(f"models/base/gguf/{GEMMA_GLOB} missing: run `make offline-models` (CI does)")
    return folder


@pytest.fixture(scope="module")
def corpus(shared_data, tmp_path_factory) -> Path:
    """Typing-like pairs from WordNet's example sentences (../shared/data/corpus, not eval/):
    the input lower-cased without its final mark, as messages are typed."""
    lines = (shared_data / "corpus" / "wordnet30_examples.txt").read_text(encoding="utf-8").splitlines()
    rows = [{"input": s.lower().rstrip(".!?"), "output": s} for s in lines[:CORPUS_LINES] if s.strip()]
    out = tmp_path_factory.mktemp("vocab") / "pairs.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def full(gemma):
    from core.loading import load_tokenizer

    return load_tokenizer(str(gemma)), json.loads((gemma / "tokenizer.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def trim(full, corpus) -> vt.VocabTrim:
    tok, tj = full
    return vt.build_trim(tok, tj, corpus)


@pytest.fixture(scope="module")
def trimmed_file(trim, tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("trimmed") / "tokenizer.json"
    f.write_text(trim.tokenizer_json, encoding="utf-8")
    return f


def _hf(path: Path):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def eval_texts() -> list[str]:
    return [t for bench in eval_sets() for p in bench.pairs for t in (p.input, p.reference)]


# ---------------------------------------------------------------- the file
def test_trimmed_file_is_the_same_tokenizer_renumbered(trim, trimmed_file, full):
    tj, new = full[1], json.loads(trimmed_file.read_text(encoding="utf-8"))
    assert sorted(new["model"]["vocab"].values()) == list(range(trim.kept))
    inv = {i: t for t, i in tj["model"]["vocab"].items()}
    assert all(new["model"]["vocab"][inv[old]] == i for i, old in enumerate(trim.old_ids))
    assert all(b in new["model"]["vocab"] for b in vt.BYTE_TOKENS)
    assert {a["content"] for a in new["added_tokens"]} == {
        a["content"] for a in tj["added_tokens"] if not vt.PLACEHOLDER.fullmatch(a["content"])}
    assert all(new["model"]["vocab"][a["content"]] == a["id"] for a in new["added_tokens"])
    bos = new["model"]["vocab"]["<bos>"]
    assert new["post_processor"]["special_tokens"]["<bos>"]["ids"] == [bos]
    ranks = {tuple(m): r for r, m in enumerate(tj["model"]["merges"])}
    kept_ranks = [ranks[tuple(m)] for m in new["model"]["merges"]]
    assert kept_ranks == sorted(kept_ranks)  # a subset, in the full file's order
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        assert new[key] == tj[key]
    assert 5_000 < trim.kept < 40_000, trim.kept  # the corpus's tokens, not the whole vocabulary


def test_corpus_text_tokenizes_to_the_same_tokens(full, trim, trimmed_file, corpus):
    """Text made of corpus tokens: the same tokens, their ids mapped (prompts, inputs, answers)."""
    from core import prompt

    tok = full[0]
    pairs = vt.read_corpus(corpus)[:3000]
    texts = [t for i, o in pairs for t in (prompt.build_prompt(tok, i), i, o)]
    got = [e.ids for e in _hf(trimmed_file).encode_batch(texts, add_special_tokens=False)]
    want = tok(texts, add_special_tokens=False)["input_ids"]
    differ = [t for t, g, w in zip(texts, got, want) if [trim.old_ids[i] for i in g] != w]
    assert not differ, f"{len(differ)} texts tokenize differently, e.g. {differ[0]!r}"


# ---------------------------------------------------------------- round trips
def test_every_eval_text_round_trips_in_hf(trimmed_file, gemma):
    texts = eval_texts()
    full, cut = _hf(gemma / "tokenizer.json"), _hf(trimmed_file)
    enc_full = full.encode_batch(texts, add_special_tokens=False)
    enc = cut.encode_batch(texts, add_special_tokens=False)
    back = cut.decode_batch([e.ids for e in enc], skip_special_tokens=True)
    wrong = [t for t, b in zip(texts, back) if b != t]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts do not round-trip, e.g. {wrong[0]!r}"
    n_full, n_cut = sum(len(e.ids) for e in enc_full), sum(len(e.ids) for e in enc)
    assert n_full <= n_cut < 1.2 * n_full, (n_full, n_cut)  # fewer merges: never fewer tokens


def test_every_eval_text_round_trips_in_cpp(trimmed_file):
    """The C++ tokenizer loads the trimmed file unchanged, gives HF's ids and decodes back."""
    build()
    texts = eval_texts() + RARE
    want = [e.ids for e in _hf(trimmed_file).encode_batch(texts, add_special_tokens=False)]
    got = Tool.batch(["encode", str(trimmed_file)], [{"text": t} for t in texts])
    wrong = [t for t, g, w in zip(texts, got, want) if g["ids"] != w or g["decoded"] != t]
    assert not wrong, f"{len(wrong)} of {len(texts)} texts differ in C++, e.g. {wrong[0]!r}"


def test_emoji_cjk_and_rare_symbols_go_through_byte_fallback(trimmed_file):
    cut = _hf(trimmed_file)
    byte_ids = {cut.token_to_id(b) for b in vt.BYTE_TOKENS}
    for text in RARE:
        ids = cut.encode(text, add_special_tokens=False).ids
        assert cut.decode(ids, skip_special_tokens=True) == text
    spelled = [i for t in RARE[:2] for i in cut.encode(t, add_special_tokens=False).ids]
    assert byte_ids & set(spelled), "emoji and CJK should need byte tokens in a trimmed vocabulary"


# ---------------------------------------------------------------- the model
@pytest.mark.integration
def test_sliced_model_logits_equal_full_logits_at_kept_ids(gemma, full, trim, trimmed_file):
    """The real Gemma base (1 GB fp32): logits of the sliced model == the full model's at the
    kept ids, on real prompts tokenized with the trimmed tokenizer."""
    import torch

    from core import prompt
    from core.loading import load_model

    tok = full[0]
    texts = ["i tought we were meting tomorow", "東京 👍 see you at 5pm", "she dosent like apples"]
    prompts = [prompt.build_prompt(tok, t) for t in texts]
    cut = _hf(trimmed_file)
    model = load_model(str(gemma), dtype=torch.float32).eval()
    idx = torch.tensor(trim.old_ids)
    with torch.no_grad():
        want = [model(torch.tensor([[trim.old_ids[i] for i in ids]])).logits[0][:, idx]
                for ids in (cut.encode(p, add_special_tokens=False).ids for p in prompts)]
        vt.slice_model(model, trim.old_ids)
        got = [model(torch.tensor([cut.encode(p, add_special_tokens=False).ids])).logits[0] for p in prompts]
    assert model.config.vocab_size == trim.kept == model.get_output_embeddings().out_features
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # still tied
    for g, w in zip(got, want):
        assert torch.allclose(g, w, atol=1e-4, rtol=1e-4), (g - w).abs().max()


@pytest.mark.integration
def test_trimmed_model_folder_loads_and_gives_the_full_models_logits(gemma, full, corpus, tmp_path):
    """python -m export.vocab_trim --model M --out DIR: an HF folder every stage loads (what
    `make eval` scores), here for a small random Gemma 3 over the real tokenizer."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from core import prompt
    from core.loading import load_model, load_tokenizer

    src = tmp_path / "src"
    cfg = Gemma3TextConfig(vocab_size=len(full[0]), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=8, pad_token_id=0,
                           eos_token_id=1, bos_token_id=2)
    torch.manual_seed(0)
    Gemma3ForCausalLM(cfg).save_pretrained(str(src))
    full[0].save_pretrained(str(src))
    argv = ["--model", str(src), "--out", str(tmp_path / "cut"), "--corpus", str(corpus)]
    assert vt.main(argv) == 0
    record = json.loads((tmp_path / "cut" / "vocab_trim.json").read_text())
    cut = str(tmp_path / "cut")
    model, tok = load_model(cut, dtype=torch.float32).eval(), load_tokenizer(cut)
    whole = load_model(str(src), dtype=torch.float32).eval()
    assert len(tok) == model.config.vocab_size == record["kept"] < len(full[0])
    ids = prompt.prompt_ids(tok, "i tought we were meting tomorow 👍")
    with torch.no_grad():
        got = model(torch.tensor([ids])).logits[0]
        want = whole(torch.tensor([[record["old_ids"][i] for i in ids]])).logits[0][:, record["old_ids"]]
    assert torch.allclose(got, want, atol=1e-5)
    assert vt.main(argv) == 2  # an existing folder is never overwritten

    # a release ships vocab_trim.json: --ids rebuilds the same trimmed folder without the corpus
    record_file = str(tmp_path / "cut" / "vocab_trim.json")
    again = ["--model", str(src), "--out", str(tmp_path / "again"), "--ids", record_file]
    assert vt.main(again) == 0
    for f in ("tokenizer.json", "model.safetensors"):
        assert (tmp_path / "again" / f).read_bytes() == (tmp_path / "cut" / f).read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**record, "old_ids": record["old_ids"][::-1]}))
    with pytest.raises(vt.VocabTrimError, match="ascending distinct"):
        vt.write_trimmed_model(str(src), tmp_path / "bad-out", record=str(bad))
    bad.write_text(json.dumps({**record, "old_ids": record["old_ids"][:-1]}))  # another trim
    with pytest.raises(vt.VocabTrimError, match="tokenizer_sha256"):
        vt.write_trimmed_model(str(src), tmp_path / "bad-out", record=str(bad))
    assert not (tmp_path / "bad-out").exists()


# ---------------------------------------------------------------- config
def test_config_takes_off_on_auto_and_rejects_the_rest():
    assert load_config(ExportConfig, None, ["vocab_trim=off"]).vocab_trim == "off"  # YAML's false
    assert load_config(ExportConfig, None, ["vocab_trim=on"]).vocab_trim == "on"
    assert ExportConfig().vocab_trim == "off"  # it costs quality: only when asked
    assert load_config(ExportConfig, None, ["vocab_trim=auto"]).vocab_trim == "auto"
    with pytest.raises(ConfigError, match="vocab_trim must be off, on or auto"):
        load_config(ExportConfig, None, ["vocab_trim=sometimes"])
    with pytest.raises(ConfigError, match="vocab_min_count"):
        load_config(ExportConfig, None, ["vocab_min_count=0"])
    with pytest.raises(ConfigError, match="vocab_corpus"):
        load_config(ExportConfig, None, ["vocab_corpus="])
    with pytest.raises(ConfigError, match="vocab_min_count"):
        load_config(ExportConfig, None, ["vocab_min_count=two"])


def test_missing_corpus_is_named(tmp_path):
    from export.source import Source

    src = Source(tmp_path, tmp_path)  # a model folder of no training run
    with pytest.raises(ConfigError, match="vocab_corpus: file not found"):
        vt.resolve_corpus(str(tmp_path / "nope.jsonl"), src, 262_144)
    if not (ROOT / "data" / "train_data.json").is_file():  # else auto finds it
        with pytest.raises(ConfigError, match="vocab_corpus=<pairs file> or vocab_trim=off"):
            vt.resolve_corpus("auto", src, 262_144)


def test_auto_leaves_a_small_vocabulary_whole(tiny_base):
    from core.loading import load_tokenizer
    from export.source import resolve_source

    src = resolve_source(tiny_base)
    assert vt.plan("auto", "nope.jsonl", 1, src, load_tokenizer(str(tiny_base))) is None


def test_byte_level_bpe_is_refused_when_asked(tiny_base):
    tj = json.loads((tiny_base / "tokenizer.json").read_text(encoding="utf-8"))
    assert "byte_fallback" in (vt.unsupported(tj) or "")
    with pytest.raises(ConfigError, match="vocab_trim=off"):
        vt.build_trim(None, tj, "unused.jsonl")
