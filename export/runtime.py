"""Run an exported `.pte` on the host with the ExecuTorch Python runtime: forward, greedy
generation with the in-program static KV cache, and copy-speculative generation that is
token-identical to greedy.

    m = PteModel("models/typing-corrector-int8.pte")
    ids, stats = m.generate(prompt_ids, max_new_tokens=64)     # greedy
    ids, stats = m.generate(prompt_ids, 64, speculate="copy")  # same ids, fewer forwards

Copy-mode defaults (draft_len, prefill_draft, max_ngram) come from core.decoding, the file the
C++ runner is compiled with, so both make the same drafts and the same number of forwards.

`ids` are the new tokens, ending with the EOS id when the model stopped by itself.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from core import decoding
from core.errors import ExportError
from core.files import check_input, check_recorded_file, read_json
from export.speculate import CopyDrafter

SPECULATE_MODES = ("none", "copy")


class PteError(ExportError):
    """A `.pte` cannot be loaded or a request does not fit it."""


def load_runtime_ops(path: Path) -> list[str]:
    """Register the kernels a `.pte` needs beyond portable + XNNPACK: always the quantized
    kernels (embedding_byte/4bit...; harmless for fp32 files), and the LLM custom ops
    (`llama::custom_sdpa`, `llama::update_cache`) when the metadata beside the file lists
    "llama" in `runtime_ops`. Returns that list."""
    import executorch.kernels.quantized  # noqa: F401

    meta = path.with_suffix(".json")
    ops = list(read_json(meta, PteError, what="metadata").get("runtime_ops", [])) if meta.is_file() else []
    if "llama" in ops:
        from export.custom_sdpa import load_custom_ops

        load_custom_ops()
    return ops


def _load_program(path: Path, **runtime_kwargs):
    from executorch.runtime import Runtime

    if not path.exists() and not path.is_symlink():
        raise PteError(f"{path}: no such .pte file (run `make export` first)")
    check_input(path, ".pte", PteError, want="file")  # a named pipe is never opened
    load_runtime_ops(path)
    try:
        return Runtime.get().load_program(path, **runtime_kwargs)
    except Exception as exc:  # noqa: BLE001 - the runtime's own errors for a truncated or foreign file
        raise PteError(f"{path}: not a loadable .pte (truncated or not an ExecuTorch program?): "
                       f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None


def load_pte_tokenizer(pte: str | Path):
    """The tokenizer of an exported model from the files beside it: tokenizer.json plus
    the chat template, instruction and special tokens recorded in the metadata JSON, so
    prompts are built by core.prompt exactly as in training (no model folder needed)."""
    from transformers import PreTrainedTokenizerFast

    from core.prompt import set_instruction

    pte = Path(pte)
    meta_path, tok_path = pte.with_suffix(".json"), pte.parent / "tokenizer.json"
    for f in (meta_path, tok_path):
        if not f.exists() and not f.is_symlink():
            raise PteError(f"{f} is missing (the export writes it beside {pte.name})")
    meta = read_json(meta_path, PteError, what="metadata")
    read_json(tok_path, PteError, what="tokenizer")  # whole: a truncated copy is named
    special, prompt = meta.get("tokenizer", {}), meta.get("prompt")
    if not isinstance(special, dict) or not all(isinstance(special.get(k), (str, type(None)))
                                                for k in ("eos_token", "pad_token", "bos_token")):
        raise PteError(f"{meta_path}: tokenizer must map eos_token/pad_token/bos_token to strings")
    if not isinstance(prompt, dict) or not isinstance(prompt.get("chat_template"), str) \
            or not isinstance(prompt.get("instruction") or "", str):
        raise PteError(f"{meta_path}: prompt.chat_template (and prompt.instruction) must be strings: "
                       "not the metadata export writes")
    try:
        tok = PreTrainedTokenizerFast(tokenizer_file=str(tok_path), eos_token=special.get("eos_token"),
                                      pad_token=special.get("pad_token"), bos_token=special.get("bos_token"))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises bare Exception
        raise PteError(f"tokenizer {tok_path}: cannot be loaded ({exc})") from None
    tok.chat_template = prompt["chat_template"]
    if prompt.get("instruction"):  # absent in files exported before it was recorded
        set_instruction(tok, prompt["instruction"])
    return tok


class PteModel:
    def __init__(self, path: str | Path, threads: int | None = None, prefix_cache: bool = True):
        self.path = Path(path)
        if threads:
            torch.set_num_threads(threads)
        t0 = time.perf_counter()
        program = _load_program(self.path)
        names = set(program.method_names)
        missing = {"forward", "get_max_seq_len", "get_eos_ids"} - names
        if missing:
            raise PteError(f"{self.path}: not an exported corrector (missing methods {sorted(missing)})")
        self._forward = program.load_method("forward")
        self.max_seq_len = int(program.load_method("get_max_seq_len").execute([])[0])
        self.eos_ids = [int(i) for i in program.load_method("get_eos_ids").execute([])]
        self.vocab_size = (int(program.load_method("get_vocab_size").execute([])[0])
                           if "get_vocab_size" in names else None)
        self.load_ms = (time.perf_counter() - t0) * 1000
        meta = self.path.with_suffix(".json")
        self.metadata: dict[str, Any] = (read_json(meta, PteError, what="metadata")
                                         if meta.exists() or meta.is_symlink() else {})
        check_recorded_file(self.path, meta, self.metadata, PteError)  # not another export's record
        # The wheel's llama::custom_sdpa multiplies through libtorch's MKL sgemm, whose result for
        # one query row depends on how many rows the call has: a K-token verify call is not
        # bit-identical to K one-token calls, and near-ties turn into different tokens. For such
        # files copy speculation here checks its drafts one token per call (the calls plain
        # greedy makes: output identical, no fewer forwards). The C++ runner supplies a
        # row-independent sgemm_ and verifies K drafts in one call (android_runner/README.md).
        self.row_exact = "llama" not in self.metadata.get("runtime_ops", [])
        # Prefix cache (as in the C++ runner): the KV cache outlives a request, so positions
        # < reusable(prompt) still hold the previous prompt's opening (instruction, chat header).
        self.prefix_cache = prefix_cache
        self._cached: list[int] = []

    def reusable(self, prompt_ids: list[int]) -> int:
        """Prompt tokens already in the cache at their positions (the last one is always fed)."""
        if not self.prefix_cache:
            return 0
        n = 0
        for a, b in zip(self._cached, prompt_ids[:-1]):
            if a != b:
                break
            n += 1
        return n

    def forward(self, ids: list[int] | torch.Tensor, start_pos: int) -> torch.Tensor:
        """Logits [1, T, V] for tokens `ids` written to the KV cache at start_pos.. ;
        the cache keeps positions < start_pos from earlier calls."""
        ids = torch.as_tensor(ids, dtype=torch.long).reshape(1, -1)
        t = ids.shape[1]
        if t < 1 or start_pos < 0 or start_pos + t > self.max_seq_len:
            raise PteError(f"{t} tokens at position {start_pos} do not fit max_seq_len "
                           f"{self.max_seq_len} of {self.path.name} (need 1 <= T and start+T <= max)")
        if start_pos < len(self._cached):  # this call overwrites cached prompt positions
            self._cached = self._cached[:start_pos]
        pos = torch.arange(start_pos, start_pos + t, dtype=torch.long)
        return self._forward.execute([ids, pos])[0]

    def generate(self, prompt_ids: list[int], max_new_tokens: int, speculate: str = "none",
                 draft_len: int = decoding.DRAFT_LEN, source_span: tuple[int, int] | None = None,
                 prefill_draft: int = decoding.PREFILL_DRAFT, reuse_limit: int | None = None,
                 max_ngram: int = decoding.MAX_NGRAM) -> tuple[list[int], dict]:
        """Greedy decoding; speculate="copy" drafts up to `draft_len` tokens from the prompt
        and verifies them in one forward. With `source_span` (where the text to correct sits
        in the prompt, see core.prompt.prompt_ids_and_span) drafts come from that text and
        its end-of-turn token only, and the prefill call already verifies its first
        `prefill_draft` tokens. After an edit the drafter re-anchors on the longest output
        suffix of up to `max_ngram` tokens found in the source. Same output either way.
        `reuse_limit` caps the prefix-cache reuse (benchmarks repeating one prompt keep what
        the previous prompt left)."""
        if speculate not in SPECULATE_MODES:
            raise ValueError(f"speculate must be one of {SPECULATE_MODES}, got {speculate!r}")
        if not prompt_ids:
            raise PteError("empty prompt")
        if len(prompt_ids) >= self.max_seq_len:
            raise PteError(f"prompt of {len(prompt_ids)} tokens does not fit max_seq_len {self.max_seq_len}")
        drafter, first = None, 0
        if speculate == "copy":
            if source_span is not None:
                b, e = source_span
                if not 0 <= b < e <= len(prompt_ids):
                    raise PteError(f"source_span {source_span} is outside the prompt (0..{len(prompt_ids)})")
                drafter, first = CopyDrafter(prompt_ids[b:e + 1], max_ngram), prefill_draft
                drafter.start()
            else:
                drafter = CopyDrafter(prompt_ids, max_ngram)
        reuse = self.reusable(prompt_ids)
        reuse = reuse if reuse_limit is None else min(reuse, reuse_limit)
        return _Decode(self, prompt_ids, max_new_tokens, drafter, draft_len, first, reuse).run()


class _Decode:
    """One request's decoding loop with its statistics."""

    def __init__(self, model: PteModel, prompt: list[int], max_new: int, drafter, draft_len: int,
                 prefill_draft: int, reused: int):
        self.m, self.prompt, self.max_new = model, list(prompt), max_new
        self.drafter, self.k = drafter, (draft_len if drafter else 0)
        self.first_k = prefill_draft if drafter else 0
        self.reused = reused
        self.out: list[int] = []
        self.stats = {"prompt_tokens": len(prompt), "reused_tokens": reused, "forwards": 0,
                      "drafted_tokens": 0, "accepted_tokens": 0, "speculate": "copy" if drafter else "none",
                      "draft_len": self.k,
                      "prefill_draft": self.first_k, "max_ngram": drafter.max_ngram if drafter else 0}

    def run(self) -> tuple[list[int], dict]:
        t0 = time.perf_counter()
        pos, stop, fed = self.reused, None, self.prompt[self.reused:]
        if self.max_new > 0:
            pos, stop = self._step(fed, pos, self.first_k)
        else:
            self._forward(fed, pos)
            stop = "max_new_tokens"
        self.m._cached = list(self.prompt)  # the prefill wrote the whole prompt to the cache
        self.stats["prefill_ms"] = self.stats["ttft_ms"] = (time.perf_counter() - t0) * 1000
        while stop is None:
            if len(self.out) >= self.max_new:
                stop = "max_new_tokens"
            elif pos + 1 > self.m.max_seq_len:
                stop = "max_seq_len"
            else:
                pos, stop = self._step([self.out[-1]], pos, self.k)
        total = (time.perf_counter() - t0) * 1000
        s = self.stats
        s.update(new_tokens=len(self.out), stop=stop or "max_new_tokens",
                 decode_ms=total - s["prefill_ms"], total_ms=total,
                 acceptance_rate=(s["accepted_tokens"] / s["drafted_tokens"]) if s["drafted_tokens"] else 0.0)
        return self.out, s

    def _forward(self, ids: list[int], pos: int) -> torch.Tensor:
        self.stats["forwards"] += 1
        return self.m.forward(ids, pos)

    def _step(self, fed: list[int], pos: int, k: int) -> tuple[int, str | None]:
        """Feed `fed` (+ a draft of up to k tokens) at `pos`; accept the agreeing draft prefix
        and the model's own next token. Rejected cache slots are overwritten by later steps.
        Returns the position of the last generated token (not yet in the cache)."""
        # Room: the draft plus the bonus token must fit max_new, the fed tokens max_seq_len.
        room = min(k, self.max_new - len(self.out) - 1, self.m.max_seq_len - pos - len(fed))
        draft = self.drafter.draft(self.out, room) if self.drafter and room > 0 else []
        if self.m.row_exact or not draft:
            logits = self._forward(fed + draft, pos)
            best = logits[0, len(fed) - 1:].argmax(-1).tolist()
        else:  # one token per call, stopping at the first rejected draft token (see PteModel)
            best = [int(self._forward(fed, pos)[0, -1].argmax())]
            while len(best) <= len(draft) and best[-1] == draft[len(best) - 1]:
                at = pos + len(fed) + len(best) - 1
                best.append(int(self._forward([draft[len(best) - 1]], at)[0, -1].argmax()))
        n = 0
        while n < len(draft) and best[n] == draft[n]:
            n += 1
        before = len(self.out)
        stop = self._append(draft[:n] + [best[n]])  # stops at an EOS, accepted or own
        appended = len(self.out) - before
        self.stats["drafted_tokens"] += len(draft)
        self.stats["accepted_tokens"] += min(n, appended)
        return pos + len(fed) - 1 + appended, stop

    def _append(self, tokens: list[int]) -> str | None:
        for tok in tokens:
            self.out.append(tok)
            if self.drafter:
                self.drafter.advance([tok])
            if tok in self.m.eos_ids:
                return "eos"
        return None
