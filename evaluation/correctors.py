"""Correctors: anything that maps a batch of texts to corrected texts.

    class Corrector: name: str; def correct(self, texts: list[str]) -> list[str]

`correct` returns the RAW output: the guard (evaluation/guard.py) is applied by the caller,
so that both the raw and the guarded figures can be reported. Backends by name:

    identity        returns the input (the floor every corrector must beat)
    symspell        symspellpy lookup_compound with its shipped English dictionaries
    pyspellchecker  word-level pyspellchecker; punctuation, case and spacing kept
    hf              a Hugging Face model folder: batched greedy generation,
                    length-sorted batches, GPU when present, static cache on GPU
    pte / device    plug-ins owned by later stages, found through the entry-point group
                    `typo_corrector.backends` (pyproject.toml); "package.module:make_NAME"
                    works too for a factory in one of this project's packages (PLUGIN_PACKAGES;
                    a name never imports any other module: `os:system` is refused); a
                    backend of another package registers an entry point in that group

A backend is a factory `factory(model: str | None, **options) -> Corrector`, added with
`register_backend(name, factory)`. Empty and whitespace-only texts come back unchanged
from every built-in backend (the model is not asked).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import math
import re
from functools import lru_cache
from typing import Any, Callable, Protocol, runtime_checkable

from core.errors import EvalError
from core.spans import mask


@runtime_checkable
class Corrector(Protocol):
    name: str

    def correct(self, texts: list[str]) -> list[str]: ...


class CorrectorError(EvalError):
    """A backend is unknown, cannot load, or broke its contract."""


Factory = Callable[..., Corrector]
BACKENDS: dict[str, Factory] = {}
# Backends that later stages own are entry points, so this package never names them.
ENTRY_POINT_GROUP = "typo_corrector.backends"


def register_backend(name: str, factory: Factory) -> None:
    BACKENDS[name] = factory


# Where a "module:factory" backend may live, and what its factory is called: a backend name
# comes from the command line and must never import an arbitrary module (`os:system`).
PLUGIN_PACKAGES = ("evaluation", "export", "device_bench", "bench", "tests")
_MODULE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_FACTORY = re.compile(r"make_\w+")


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def known_backends() -> list[str]:
    return sorted(set(BACKENDS) | set(_entry_points()))


def check_backend_name(name: Any) -> str:
    """`name` is a backend this package will build: a registered one, an entry point of group
    typo_corrector.backends, or "package.module:make_NAME" inside PLUGIN_PACKAGES. Anything else
    is a CorrectorError listing the allowed backends; nothing is imported here."""
    if not isinstance(name, str) or not name:
        raise CorrectorError(f"backend {name!r} is not a backend name; "
                             f"allowed: {', '.join(known_backends())}")
    if ":" in name:
        mod, _, attr = name.partition(":")
        if _MODULE.fullmatch(mod) and mod.split(".")[0] in PLUGIN_PACKAGES and _FACTORY.fullmatch(attr):
            try:  # found, not run: only the project package above it is imported
                found = importlib.util.find_spec(mod) is not None
            except ImportError:
                found = False
            if not found:
                raise CorrectorError(f"backend {name!r}: no module {mod} in this project")
            return name
        raise CorrectorError(
            f"backend {name!r} is not allowed: allowed backends are {', '.join(known_backends())}, or "
            f"'package.module:make_NAME' for a factory in this project's packages "
            f"({', '.join(PLUGIN_PACKAGES)}); a backend of another package registers an entry point "
            f"in group {ENTRY_POINT_GROUP!r}")
    if name not in BACKENDS and name not in _entry_points():
        raise CorrectorError(f"unknown backend {name!r}; allowed: {', '.join(known_backends())}")
    return name


def make_corrector(name: str, model: str | None = None, **options: Any) -> Corrector:
    """Build a corrector by backend name (or "package.module:make_NAME", see check_backend_name)."""
    check_backend_name(name)
    if ":" in name:
        mod, attr = name.split(":", 1)
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except ImportError as exc:
            raise CorrectorError(f"backend {name!r}: module {mod} cannot be imported ({exc})") from exc
        except AttributeError:
            raise CorrectorError(f"backend {name!r}: module {mod} has no {attr}") from None
        if not callable(factory):
            raise CorrectorError(f"backend {name!r}: {attr} is not a factory")
        return factory(model, **options)
    if name in BACKENDS:
        return BACKENDS[name](model, **options)
    plugins = _entry_points()
    try:
        factory = plugins[name].load()
    except ImportError as exc:
        raise CorrectorError(f"backend {name!r} comes from {plugins[name].value}, which could not be "
                             f"imported: {exc}") from exc
    return factory(model, **options)


def _blank_safe(fn: Callable[[str], str]) -> Callable[[str], str]:
    return lambda t: t if not t.strip() else fn(t)


# ---------------------------------------------------------------- baselines
class IdentityCorrector:
    name = "identity"

    def correct(self, texts: list[str]) -> list[str]:
        return list(texts)


@lru_cache(maxsize=1)
def _symspell():
    """Load the dictionaries once per process (several seconds)."""
    from importlib import resources

    from symspellpy import SymSpell

    sym = SymSpell(max_dictionary_edit_distance=2, prefix_length=7)
    base = resources.files("symspellpy")
    sym.load_dictionary(str(base / "frequency_dictionary_en_82_765.txt"), 0, 1)
    sym.load_bigram_dictionary(str(base / "frequency_bigramdictionary_en_243_342.txt"), 0, 2)
    return sym


# Runs of words separated only by spaces: lookup_compound drops punctuation, so it is
# applied to these runs and the punctuation between them is kept as it was.
_WORD_RUN = re.compile(r"[A-Za-z][A-Za-z']*(?: +[A-Za-z][A-Za-z']*)*")


RUN_WORDS = 32  # words per lookup_compound call (0.05 s each; 256 words at once took 0.7 s, 27k minutes)


class SymSpellCorrector:
    name = "symspell"

    def __init__(self, max_edit_distance: int = 2) -> None:
        self.max_edit_distance = max_edit_distance
        self.sym = _symspell()

    def _run(self, m: re.Match) -> str:
        words = m.group(0).split(" ")
        if len(words) > RUN_WORDS:  # lookup_compound grows faster than linearly: a long run goes in pieces
            return " ".join(self._lookup(" ".join(words[k:k + RUN_WORDS]))
                            for k in range(0, len(words), RUN_WORDS))
        return self._lookup(m.group(0))

    def _lookup(self, text: str) -> str:
        hits = self.sym.lookup_compound(text, self.max_edit_distance, ignore_non_words=True,
                                        transfer_casing=True)
        return hits[0].term if hits else text

    def _one(self, text: str) -> str:
        return "".join(p if prot else _WORD_RUN.sub(self._run, p) for p, prot in mask(text))

    def correct(self, texts: list[str]) -> list[str]:
        return [_blank_safe(self._one)(t) for t in texts]


_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


class PySpellCorrector:
    name = "pyspellchecker"

    def __init__(self, distance: int = 2) -> None:
        from spellchecker import SpellChecker

        self.spell = SpellChecker(distance=distance)
        self._fix = lru_cache(maxsize=100_000)(self._fix_lower)

    def _fix_lower(self, word: str) -> str:
        if word in self.spell:
            return word
        return self.spell.correction(word) or word

    def _word(self, m: re.Match) -> str:
        w = m.group(0)
        fixed = self._fix(w.lower())
        if fixed == w.lower():
            return w
        if w.isupper() and len(w) > 1:
            return fixed.upper()
        return fixed[:1].upper() + fixed[1:] if w[0].isupper() else fixed

    def _one(self, text: str) -> str:
        return "".join(p if prot else _WORD.sub(self._word, p) for p, prot in mask(text))

    def correct(self, texts: list[str]) -> list[str]:
        return [_blank_safe(self._one)(t) for t in texts]


register_backend("identity", lambda model=None, **kw: IdentityCorrector())
register_backend("symspell", lambda model=None, **kw: SymSpellCorrector(**kw))
register_backend("pyspellchecker", lambda model=None, **kw: PySpellCorrector(**kw))


# ---------------------------------------------------------------- long inputs
_SENT_END = re.compile(r"(?<=[.!?])(\s+)")


def split_to_fit(text: str, fits: Callable[[str], bool]) -> list[tuple[str, str]]:
    """Split `text` into (piece, separator-after) chunks that each `fits`: by sentence,
    then by words for a sentence that alone is too long. Joining piece+separator for
    every chunk gives back `text` exactly (nothing is truncated)."""
    if fits(text):
        return [(text, "")]
    parts = _SENT_END.split(text)  # [sent, sep, sent, sep, ..., sent]
    units = list(zip(parts[0::2], parts[1::2] + [""]))
    if len(units) == 1:
        units = [(m.group(1), m.group(2)) for m in re.finditer(r"(\S+)(\s*)", text)]
        lead = text[: len(text) - len(text.lstrip())]
        if lead:
            units[0] = (lead + units[0][0], units[0][1])
        if len(units) == 1:
            raise CorrectorError(f"a single word of {len(text)} characters does not fit the model's context")
    chunks: list[tuple[str, str]] = []
    for piece, sep in units:
        if chunks and fits(chunks[-1][0] + chunks[-1][1] + piece):
            chunks[-1] = (chunks[-1][0] + chunks[-1][1] + piece, sep)
        elif fits(piece):
            chunks.append((piece, sep))
        else:
            sub = split_to_fit(piece, fits)
            chunks += sub[:-1] + [(sub[-1][0], sub[-1][1] + sep)]
    return chunks


def answer_budget(n_text_tokens: int, factor: float = 1.5, extra: int = 16) -> int:
    """New tokens allowed for an answer: the corrected text is about as long as the input."""
    return int(math.ceil(n_text_tokens * factor)) + extra


# ---------------------------------------------------------------- Hugging Face model
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: bf16 matmuls run natively (about 2x fp32 generation measured on a
    Sapphire Rapids core); elsewhere bf16 is emulated and slower than fp32."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, p, lambda: False)() for p in probes)


def default_device(device: str | None = None) -> str:
    """The device HF generation runs on: the one given, else cuda when present, else cpu."""
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: str):
    """bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere."""
    import torch

    if device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16()):
        return torch.bfloat16
    return torch.float32


class HFCorrector:
    """Batched greedy generation with the project prompt (core/prompt.py).

    Prompts are sorted by length so a batch pads little and stops soon; left padding;
    a static KV cache on GPU (fixed shapes, no re-allocation per step). Inputs too long
    for the model's context are split by sentence and the answers joined back."""

    name = "hf"

    def __init__(self, model: str, device: str | None = None, batch_size: int = 32,
                 dtype: str | None = None, static_cache: bool | None = None,
                 budget_factor: float = 1.5, budget_extra: int = 16, few_shot: int = 0) -> None:
        import torch

        from core.loading import load_model, load_tokenizer

        self.device = default_device(device)
        self.tok = load_tokenizer(model)
        self.tok.padding_side = "left"
        torch_dtype = getattr(torch, dtype) if dtype else default_dtype(self.device)
        self.model = load_model(model, dtype=torch_dtype).to(self.device).eval()
        self.max_len = int(getattr(self.model.config, "max_position_embeddings", 0) or 2048)
        self.batch_size, self.budget = batch_size, (budget_factor, budget_extra)
        self.few_shot = few_shot  # worked examples in the prompt: the prompt-only baseline
        if few_shot:
            self.name = f"hf-{few_shot}shot"
        self.static_cache = self.device == "cuda" if static_cache is None else static_cache
        from core.prompt import eos_ids

        self.eos = eos_ids(self.tok)

    def _n_tokens(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def dictionary_model(self):
        """This model as the dictionary pass's scorer (evaluation/dictpass.py): batched
        teacher-forced log-probs over a shared-prefix KV cache, the same prompt as generation."""
        from evaluation.dictpass import PassModel, hf_scorer

        return PassModel(self.tok, hf_scorer(self.model, self.tok.pad_token_id), self.max_len, self.few_shot)

    def _fits(self, text: str) -> bool:
        from core.prompt import prompt_ids

        budget = answer_budget(self._n_tokens(text), *self.budget)
        need = len(prompt_ids(self.tok, text, self.few_shot)) + budget
        return need <= self.max_len

    def correct(self, texts: list[str]) -> list[str]:
        jobs: list[tuple[int, int, str]] = []      # (text index, chunk index, chunk)
        plans: list[list[tuple[str, str]]] = []
        for i, t in enumerate(texts):
            plan = [(t, "")] if not t.strip() else split_to_fit(t, self._fits)
            plans.append(plan)
            jobs += [(i, k, piece) for k, (piece, _) in enumerate(plan) if piece.strip()]
        answers = dict(zip(((i, k) for i, k, _ in jobs), self._generate([p for _, _, p in jobs])))
        out = []
        for i, plan in enumerate(plans):
            # a blank chunk (or text) comes back as it was; the model never sees it
            out.append("".join(answers.get((i, k), piece) + sep for k, (piece, sep) in enumerate(plan)))
        return out

    def _generate(self, texts: list[str]) -> list[str]:
        from core.prompt import decode_answer, prompt_ids

        prompts = [prompt_ids(self.tok, t, self.few_shot) for t in texts]
        order = sorted(range(len(texts)), key=lambda k: -len(prompts[k]))
        results: list[str] = [""] * len(texts)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            budget = max(answer_budget(self._n_tokens(texts[k]), *self.budget) for k in idx)
            outs = self._batch([prompts[k] for k in idx], budget)
            for k, ids in zip(idx, outs):
                results[k] = decode_answer(self.tok, ids)
        return results

    def _batch(self, prompts: list[list[int]], budget: int) -> list[list[int]]:
        import torch

        width = max(map(len, prompts))
        budget = max(1, min(budget, self.max_len - width))
        pad = self.tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attn = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        # static cache without auto-compile: every batch has its own shape, and a recompile
        # per shape costs more than it saves (bench/bench_eval.py measures the difference)
        extra = {"cache_implementation": "static", "disable_compile": True} if self.static_cache else {}
        with torch.inference_mode():
            gen = self.model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=budget,
                                      do_sample=False, eos_token_id=self.eos, pad_token_id=pad, **extra)
        return gen[:, width:].tolist()


register_backend("hf", lambda model=None, **kw: _hf(model, **kw))


def _hf(model: str | None, **kw: Any) -> HFCorrector:
    if not model:
        raise CorrectorError("backend 'hf' needs a model folder (--model DIR)")
    return HFCorrector(model, **kw)
