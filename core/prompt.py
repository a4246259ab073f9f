"""The one prompt: every stage (train, evaluate, export metadata, bench) imports it.

The prompt is the base model's chat template applied to an instruction and the user's
text, with the generation prompt opened. The answer is the clean text followed by the
template's end-of-turn token. Nothing else in the project formats prompts.

The instruction travels with the tokenizer: training records it in the tokenizer config it
saves (key INSTRUCTION_KEY), export copies it into the .pte metadata, and the bench puts it
back on the tokenizer it rebuilds. A tokenizer without the key is a model trained before
the instruction was recorded (the released adapter among them): it gets LEGACY_INSTRUCTION.
"""
from __future__ import annotations

from typing import Any

from core.loading import ModelLoadError

# What every model trained before the instruction was recorded saw, and so what a tokenizer
# without INSTRUCTION_KEY gets (a SmolLM2 prompt around an empty text: 31 tokens with it,
# 22 with INSTRUCTION).
LEGACY_INSTRUCTION = (
    "Correct the spelling, capitalization and punctuation of the text. "
    "Output only the corrected text."
)
# The default for new training runs (train config `data.instruction`): every training and
# inference token pays for it. Chosen by bench/bench_prompt.py (see docs/ARCHITECTURE.md).
INSTRUCTION = "Fix spelling, case and punctuation."
INSTRUCTION_KEY = "typo_instruction"


def instruction(tokenizer: Any) -> str:
    """The instruction this tokenizer's model was trained with."""
    return (getattr(tokenizer, "init_kwargs", None) or {}).get(INSTRUCTION_KEY) or LEGACY_INSTRUCTION


def set_instruction(tokenizer: Any, text: str) -> None:
    """Record `text` on the tokenizer; save_pretrained writes it to tokenizer_config.json."""
    if not text.strip():
        raise ValueError("the instruction must not be empty")
    tokenizer.init_kwargs[INSTRUCTION_KEY] = text


# End-of-turn markers of the chat templates we support, most specific first.
END_OF_TURN_TOKENS = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>")


# Worked examples for prompt-only use of a base model (the `few_shot` baseline): never part
# of training, which teaches the task without them.
FEW_SHOT = (
    ("i tought we were meting tomorow at teh station", "I thought we were meeting tomorrow at the station."),
    ("she dosent like apples but she loves oranges", "She doesn't like apples, but she loves oranges."),
    ("My brother recieved a leter from his freind in london.",
     "My brother received a letter from his friend in London."),
)


def messages(text: str, system: bool = True, few_shot: int = 0,
             instruction_text: str = LEGACY_INSTRUCTION) -> list[dict[str, str]]:
    shots = [m for src, ref in FEW_SHOT[:few_shot]
             for m in ({"role": "user", "content": src}, {"role": "assistant", "content": ref})]
    if system:
        return [{"role": "system", "content": instruction_text}, *shots, {"role": "user", "content": text}]
    if shots:  # no system role (Gemma): the instruction opens the first user turn
        shots[0] = {"role": "user", "content": f"{instruction_text}\n\n{shots[0]['content']}"}
        return [*shots, {"role": "user", "content": text}]
    return [{"role": "user", "content": f"{instruction_text}\n\n{text}"}]


# For a base model without a chat template (the Gemma 3 270M base GGUF): plain text, the
# answer on the next line; the answer still ends with the end-of-turn id answer_eos_id picks.
PLAIN_TEMPLATE = "{bos}{instruction}\n\nText: {text}\nCorrected:\n"


def template_kind(tokenizer: Any) -> str:
    """"chat" (the model's own chat template) or "plain" (PLAIN_TEMPLATE)."""
    return "chat" if getattr(tokenizer, "chat_template", None) else "plain"


def build_prompt(tokenizer: Any, text: str, few_shot: int = 0) -> str:
    """The prompt string for `text` (generation prompt open, thinking off); `few_shot` > 0
    puts that many FEW_SHOT examples before it (prompt-only baselines only)."""
    said = instruction(tokenizer)
    if template_kind(tokenizer) == "plain":
        shots = "".join(f"Text: {s}\nCorrected:\n{r}\n\n" for s, r in FEW_SHOT[:few_shot])
        return PLAIN_TEMPLATE.format(bos=tokenizer.bos_token or "", instruction=said,
                                     text=text).replace("Text: ", shots + "Text: ", 1)
    kwargs = dict(tokenize=False, add_generation_prompt=True, enable_thinking=False)
    try:
        return tokenizer.apply_chat_template(messages(text, True, few_shot, said), **kwargs)
    except Exception as exc:  # e.g. Gemma's template raises on a system role
        if "system" not in str(exc).lower():
            raise
        return tokenizer.apply_chat_template(messages(text, False, few_shot, said), **kwargs)


def prompt_ids(tokenizer: Any, text: str, few_shot: int = 0) -> list[int]:
    return tokenizer(build_prompt(tokenizer, text, few_shot), add_special_tokens=False)["input_ids"]


def prompt_ids_and_span(tokenizer: Any, text: str) -> tuple[list[int], tuple[int, int] | None]:
    """prompt_ids() plus where `text` sits in them: token indices [begin, end) of the tokens
    lying wholly inside the text (None when none do). Copy-speculative runners draft the
    answer from that span; it is only a guess, so a token cut at the edge costs nothing."""
    full = build_prompt(tokenizer, text)
    enc = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids, at = enc["input_ids"], full.rfind(text) if text else -1
    if at < 0:
        return ids, None
    inside = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if at <= a < b <= at + len(text)]
    return ids, ((inside[0], inside[-1] + 1) if inside else None)


def answer_eos_id(tokenizer: Any) -> int:
    """The token that ends an answer: the template's end-of-turn marker, else EOS."""
    # Looked up per pair while encoding: get_vocab() would build a dict of the whole
    # vocabulary each time (49k entries for SmolLM2), more than the rest of encoding.
    for tok in END_OF_TURN_TOKENS:
        tid = tokenizer.convert_tokens_to_ids(tok)
        if tid is not None and tid != tokenizer.unk_token_id:
            return tid
    if tokenizer.eos_token_id is None:
        raise ModelLoadError("tokenizer has neither an end-of-turn token nor an EOS token")
    return tokenizer.eos_token_id


def answer_ids(tokenizer: Any, output: str) -> list[int]:
    """Target tokens for training: the clean text then the end-of-turn token."""
    return tokenizer(output, add_special_tokens=False)["input_ids"] + [answer_eos_id(tokenizer)]


def eos_ids(tokenizer: Any) -> list[int]:
    """Every id that stops generation (end-of-turn marker and EOS)."""
    ids = {answer_eos_id(tokenizer)}
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def decode_answer(tokenizer: Any, ids: list[int]) -> str:
    """Generated ids -> text, cut at the first stop id, without special tokens."""
    stops = set(eos_ids(tokenizer))
    cut = next((i for i, t in enumerate(ids) if t in stops), len(ids))
    return tokenizer.decode(ids[:cut], skip_special_tokens=True).strip()


def template_info(tokenizer: Any) -> dict[str, Any]:
    """What export metadata records so a device-side app can rebuild the prompt."""
    example = build_prompt(tokenizer, "{text}")
    return {
        "template": template_kind(tokenizer),
        "instruction": instruction(tokenizer),
        "chat_template": getattr(tokenizer, "chat_template", None),
        "prompt_format": example,
        "eos_ids": eos_ids(tokenizer),
    }
