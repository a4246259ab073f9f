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


def make_pte_corrector(model: str | None = None, **options: Any) -> PteCorrector:
    if not model:
        raise CorrectorError("backend 'pte' needs a .pte file (--model models/typing-corrector-int8.pte)")
    return PteCorrector(model, **options)

