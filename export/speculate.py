"""Copy ("prompt-lookup") drafting for correction models: the answer repeats the input
almost everywhere, so the next tokens are usually the input tokens that follow the
current alignment point. Pure Python, shared by PteModel and usable by any runner.

Alignment: `ptr` is the index in `source` of the token we expect the model to copy next.
While the model copies, `ptr` advances with every accepted token. After an edit (the
model's token differs from source[ptr]) we re-anchor: find the longest suffix of the
generated tokens (up to `max_ngram`) that occurs in the source and continue after it,
preferring the occurrence nearest to (and not before) the old alignment point.

The C++ runner's CopyDrafter (android_runner/src/decode.cpp) is this algorithm step for
step, with the same defaults (core.decoding): both make the same drafts, hence the same
forward calls (checked on the tiny eval set by tests/test_decoding_defaults.py). Change
one, change the other.
"""
from __future__ import annotations

from core import decoding


class CopyDrafter:
    def __init__(self, source: list[int], max_ngram: int = decoding.MAX_NGRAM):
        if max_ngram < 1:
            raise ValueError(f"max_ngram must be >= 1, got {max_ngram}")
        self.source = list(source)
        self.max_ngram = max_ngram
        self.ptr: int | None = None  # kept after a mismatch: re-anchoring prefers near it
        self.aligned = False
        self.anchors = 0  # how many times we (re-)anchored: a measure of edits

    def start(self) -> None:
        """The answer is expected to begin by copying the source's first token (the source
        is the text to correct): draft from it before anything is generated."""
        self.ptr, self.aligned = 0, True

    def draft(self, generated: list[int], k: int) -> list[int]:
        """Up to k tokens predicted to follow `generated` (the output so far, not the prompt)."""
        if k <= 0:
            return []
        if not self.aligned:
            if not generated:
                return []
            ptr = self._anchor(generated)
            self.anchors += 1
            if ptr is None:
                return []
            self.ptr, self.aligned = ptr, True
        return self.source[self.ptr:self.ptr + k]

    def advance(self, appended: list[int]) -> None:
        """Move the alignment over tokens just appended to the output, while they keep
        matching the source; the first mismatch leaves it to re-anchor on next draft."""
        for tok in appended:
            if not self.aligned:
                return
            if self.ptr < len(self.source) and self.source[self.ptr] == tok:
                self.ptr += 1
            else:
                self.aligned = False

    def _anchor(self, generated: list[int]) -> int | None:
        old = self.ptr
        for n in range(min(self.max_ngram, len(generated)), 0, -1):
            ends = self._match_ends(generated[-n:])
            if ends:
                return _nearest(ends, old)
        return None

    def _match_ends(self, gram: list[int]) -> list[int]:
        """Indices just after each occurrence of `gram` in the source (with a token after it)."""
        n, src = len(gram), self.source
        return [i + n for i in range(len(src) - n) if src[i:i + n] == gram]


def _nearest(ends: list[int], old: int | None) -> int:
    """The occurrence to follow: the first whose last token lies at/after the old
    alignment point (not yet copied); with no
    alignment yet (or none ahead), the last one (the input sits at the end of the prompt,
    after the instruction)."""
    if old is not None:
        ahead = [e for e in ends if e > old]
        if ahead:
            return ahead[0]
    return ends[-1]
