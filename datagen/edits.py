"""Character edit operations between a correct word and its misspelling: optimal string
alignment (Damerau-Levenshtein with adjacent transpositions) with a backtrace, so we
can count substitutions, deletions, insertions and transpositions and where they fall."""
from __future__ import annotations


def edit_ops(correct: str, wrong: str) -> list[tuple[str, int]]:
    """Minimal (op, position in `correct`) list turning `correct` into `wrong`.
    op is "sub", "del" (a letter of `correct` missing), "ins" (an extra letter, placed
    before position i) or "trans" (letters i and i+1 swapped)."""
    a, b = correct, wrong
    n, m = len(a), len(b)
    d = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        d[i][0] = i
    for j in range(m + 1):
        d[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            best = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1] and a[i - 1] != a[i - 2]:
                best = min(best, d[i - 2][j - 2] + 1)
            d[i][j] = best
    return _backtrace(a, b, d)


def _backtrace(a: str, b: str, d: list[list[int]]) -> list[tuple[str, int]]:
    ops, i, j = [], len(a), len(b)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and a[i - 1] == b[j - 1] and d[i][j] == d[i - 1][j - 1]:
            i, j = i - 1, j - 1
        elif (i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]
              and d[i][j] == d[i - 2][j - 2] + 1):
            ops.append(("trans", i - 2))
            i, j = i - 2, j - 2
        elif i > 0 and j > 0 and d[i][j] == d[i - 1][j - 1] + 1:
            ops.append(("sub", i - 1))
            i, j = i - 1, j - 1
        elif i > 0 and d[i][j] == d[i - 1][j] + 1:
            ops.append(("del", i - 1))
            i -= 1
        else:
            ops.append(("ins", i))
            j -= 1
    return ops[::-1]


def position_bucket(pos: int, length: int) -> str:
    """first letter / last letter / middle of the correct word."""
    if pos <= 0:
        return "first"
    if pos >= length - 1:
        return "last"
    return "middle"
