"""Clean-text handling: Project Gutenberg boilerplate, markup, Unicode and whitespace
normalisation, sentence splitting, and the filter that keeps only prose sentences."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from core.config import check

# Gutenberg: the licence header runs until a START line, the footer from an END line.
# Bytes patterns: the reader applies them to raw lines before decoding.
_GUT_START = re.compile(rb"^\s*\*\*\*\s*START OF|^\*END\*THE SMALL PRINT|^\*END THE SMALL PRINT", re.I)
_GUT_END = re.compile(rb"^\s*\*\*\*\s*END OF|^\s*End of (the )?Project Gutenberg", re.I)
_GUT_HEADER = re.compile(rb"^\s*(The )?Project Gutenberg('s)? E-?Book of"
                         rb"|^\s*\*\*\*START\*\*THE SMALL PRINT", re.I)
_GUT_ANY = re.compile(rb"gutenberg|\*\*\*|\*END", re.I)


def strip_gutenberg(lines: list[bytes], skipping: bool = False) -> tuple[list[bytes], bool]:
    """Blank out (keeping line numbers) every Gutenberg header/footer line of a block of
    raw lines; `skipping` carries the state from the previous block. Works on
    concatenations of several books (big.txt); plain text passes through untouched."""
    if not _GUT_ANY.search(b"".join(lines)):  # the common case, one C-level scan
        return ([b""] * len(lines) if skipping else lines), skipping
    out = []
    for line in lines:
        if skipping:
            skipping = not _GUT_START.match(line)
            out.append(b"")
        elif _GUT_HEADER.match(line) or _GUT_END.match(line):
            skipping = True
            out.append(b"")
        else:
            out.append(line)
    return out, skipping


# (cheap substring guard, pattern, replacement): the guard skips the regex on most text
_MARKUP = [
    ("<", re.compile(r"<[^>\n]{1,200}>"), " "),                 # HTML/XML tags
    ("[", re.compile(r"\[(?:Illustration|Footnote|Sidenote)[^\]]*\]", re.I), " "),
    (":", re.compile(r":[a-z]+:`([^`<]*?)(?:\s*<[^>]*>)?`"), r"\1"),  # reST roles :ref:`x`
    ("``", re.compile(r"``([^`]+)``"), r"`\1`"),                  # reST literals -> inline code
    ("_", re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)"), r"\1"),       # Gutenberg _italics_
    ("--", re.compile(r"--+"), " - "),                             # old typewriter dashes
]
_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                             "\u00a0": " ", "\u2014": " - ", "\u2013": "-", "\u2026": "...",
                             "\u00ad": None, "\u200b": None, "\ufeff": None,
                             # direction marks and bidi embeddings/overrides/isolates: invisible, and a
                             # sentence that starts with one would be dropped as "not prose"
                             **{c: None for c in "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                                 "\u2066\u2067\u2068\u2069"}})


def normalize(text: str) -> str:
    """NFC, straight quotes (what phone keyboards produce), single spaces, no markup."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text).translate(_TYPOGRAPHY)
    for guard, rx, rep in _MARKUP:
        if guard in text:
            text = rx.sub(rep, text)
    return " ".join(text.split())


_ABBREV = ("Mr", "Mrs", "Ms", "Dr", "St", "Prof", "Sr", "Jr", "vs", "etc", "e.g", "i.e", "cf", "No", "Mt",
           "Gen", "Col", "Capt", "Lt", "Rev", "Hon", "Fig", "Vol", "approx", "Inc", "Ltd", "Co")
ABBREVIATIONS = frozenset(_ABBREV)  # words whose full stop ends no sentence
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_ABBREV_END = re.compile(r"(?:\b(?:" + "|".join(re.escape(a) for a in _ABBREV) + r")|\b[A-Z])\.$")


def split_sentences(text: str) -> list[str]:
    """Rule-based splitter: a sentence ends at . ! ? (plus closing quotes) followed by a
    capital or digit, unless the period ends a known abbreviation or an initial."""
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if _ABBREV_END.search(text, max(start, m.start() - 8), m.start()):  # only the last word matters
            continue
        out.append(text[start:m.end()].strip())
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


@dataclass
class CleanConfig:
    min_words: int = 4
    max_words: int = 40
    min_chars: int = 12
    max_chars: int = 300
    max_line_chars: int = 100_000  # a longer raw line is skipped and counted (not prose)
    min_letter_share: float = 0.75  # letters + spaces over all characters

    def __post_init__(self) -> None:
        check(1 <= self.min_words <= self.max_words, "clean: need 1 <= min_words <= max_words")
        check(1 <= self.min_chars <= self.max_chars, "clean: need 1 <= min_chars <= max_chars")
        check(self.max_line_chars >= self.max_chars, "clean: max_line_chars must be >= max_chars")
        check(0.0 <= self.min_letter_share <= 1.0, "clean: min_letter_share must be in [0, 1]")


_CODE_CHARS = frozenset("{}[]<>=\\|#*~^")  # code, markup, tables
_NOT_PROSE = re.compile(r"::|\(\)|\.\.\.\.|https?://\S+$|\s[a-z_]+\.[a-z_]+\(")
_NOT_LETTERS = bytes(c for c in range(256) if not (chr(c).isascii() and (chr(c).isalpha() or c == 32)))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # NUL, escape sequences, ...: no typed text holds one


def reject_reason(s: str, cfg: CleanConfig) -> str | None:
    """Why `s` is not a usable prose sentence (None when it is)."""
    if _CONTROL.search(s):
        return "control_chars"
    n = len(s)
    if n < cfg.min_chars:
        return "too_short"
    if n > cfg.max_chars:
        return "too_long"
    words = s.count(" ") + 1
    if words < cfg.min_words:
        return "too_short"
    if words > cfg.max_words:
        return "too_long"
    if not _CODE_CHARS.isdisjoint(s) or not s[0].isalnum() and s[0] not in "\"'(`$":
        return "not_prose"
    if ("(" in s or "::" in s or "..." in s or "://" in s) and _NOT_PROSE.search(s):
        return "not_prose"
    if len(s.encode().translate(None, _NOT_LETTERS)) < cfg.min_letter_share * n:
        return "not_prose"
    edges = s[:3] + s[-3:]
    if s.isupper() or edges.upper() == edges:
        return "not_prose"  # headings, ALL CAPS, lines that start/end in symbols
    if s.count('"') % 2 or s.count("(") != s.count(")") or s.count("`") % 2:
        return "unbalanced"
    if s[-1] not in '.!?"\')' and (s[0].isupper() or s[0].isdigit()):
        return "fragment"  # a capitalised line without final punctuation is a heading/label
    return None
