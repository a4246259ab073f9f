"""The `pte` evaluation backend: `make_corrector("pte", "models/typing-corrector-int8.pte",
speculate="copy")`, found through the `typo_corrector.backends` entry point
(pyproject.toml); copy-mode settings default to core.decoding, as in PteModel.generate.
Raw output (no guard), like every corrector; one text at a time with the `.pte`'s own KV
cache; long texts are split to fit max_seq_len like the hf backend."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from core import decoding
from evaluation.correctors import CorrectorError, answer_budget, split_to_fit


class PteCorrector:
    name = "pte"

    def __init__(self, model: str, tokenizer: str | None = None, speculate: str = "none",
                 draft_len: int = decoding.DRAFT_LEN, threads: int | None = None, budget_factor: float = 1.5,
                 budget_extra: int = 16) -> None:
        from core.loading import load_tokenizer
        from export.runtime import PteError, PteModel, load_pte_tokenizer

        path = Path(model)
        try:  # a model folder given as `tokenizer`, else the files beside the .pte
            self.tok = load_tokenizer(tokenizer) if tokenizer else load_pte_tokenizer(path)
        except PteError as exc:
            raise CorrectorError(str(exc)) from exc
        self.model = PteModel(path, threads=threads)
        self.speculate, self.draft_len = speculate, draft_len
        self.budget = (budget_factor, budget_extra)
        self.stats: list[dict[str, Any]] = []  # per generated chunk, in order

    def dictionary_model(self):
        """This `.pte` as the dictionary pass's scorer (evaluation/dictpass.py): the same rule as
        the hf backend, the log-probs from this program (pte_scorer)."""
        from evaluation.dictpass import PassModel

        return PassModel(self.tok, pte_scorer(self.model), self.model.max_seq_len, 0)

    def _n_tokens(self, text: str) -> int:
        return len(self.tok(text, add_special_tokens=False)["input_ids"])

    def _fits(self, text: str) -> bool:
        from core.prompt import prompt_ids

        need = len(prompt_ids(self.tok, text)) + answer_budget(self._n_tokens(text), *self.budget)
        return need <= self.model.max_seq_len

    def _one(self, text: str) -> str:
        from core.prompt import decode_answer, prompt_ids_and_span

        ids, span = prompt_ids_and_span(self.tok, text)
        budget = min(answer_budget(self._n_tokens(text), *self.budget), self.model.max_seq_len - len(ids))
        out, stats = self.model.generate(ids, budget, speculate=self.speculate, draft_len=self.draft_len,
                                         source_span=span)
        self.stats.append(stats)
        return decode_answer(self.tok, out)

    def correct(self, texts: list[str]) -> list[str]:
        results = []
        for t in texts:
            if not t.strip():
                results.append(t)
                continue
            plan = split_to_fit(t, self._fits)
            results.append("".join((self._one(p) if p.strip() else p) + sep for p, sep in plan))
        return results


def pte_scorer(model):
    """evaluation.dictpass.ScoreFn of an exported program (export.runtime.PteModel, batch 1): the
    prompt and the tokens every continuation shares are fed once (the prompt positions the last
    generation left in the KV cache are reused), then each continuation's own tokens from there,
    overwriting the cache past the shared part. Teacher-forced, no sampling."""
    import torch

    from evaluation.dictpass import DictPassError, common_prefix

    def score(prefix, conts) -> list[float]:
        if not prefix or not conts or any(not c for c in conts):
            raise DictPassError("score needs a non-empty prefix and non-empty continuations")
        shared = common_prefix(conts)
        head = list(prefix) + list(conts[0][:shared])
        if len(head) + max(len(c) - shared for c in conts) > model.max_seq_len:
            raise DictPassError(f"the continuations do not fit max_seq_len {model.max_seq_len}")
        # reuse cached prompt positions, but recompute the last prompt token: its logits score
        # the first answer token
        n = min(model.reusable(head), len(prefix) - 1)
        lp = torch.log_softmax(model.forward(head[n:], n)[0].float(), -1)  # row r: position n + r
        base = sum(float(lp[len(prefix) - 1 - n + t, conts[0][t]]) for t in range(shared))
        last, out = lp[-1], []
        for c in conts:
            tail = list(c[shared:])
            total = base + float(last[tail[0]])
            if len(tail) > 1:
                tl = torch.log_softmax(model.forward(tail[:-1], len(head))[0].float(), -1)
                total += float(tl.gather(-1, torch.tensor(tail[1:])[:, None]).sum())
            out.append(total)
        return out
    return score


def make_pte_corrector(model: str | None = None, **options: Any) -> PteCorrector:
    if not model:
        raise CorrectorError("backend 'pte' needs a .pte file (--model models/typing-corrector-int8.pte)")
    return PteCorrector(model, **options)

