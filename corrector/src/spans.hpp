// core/spans.py's PROTECTED_RE (inline code, URLs, e-mail addresses, times, numbers), by hand:
// each pattern's backtracking worked out so the matches are the ones Python's re finds
// (alternatives tried in order at each position, scanning left to right, no overlaps).
#pragma once

#include <utility>
#include <vector>

#include "unicode.hpp"

namespace tc {

using Span = std::pair<size_t, size_t>;  // [start, end) in code points

std::vector<Span> protected_spans(const Text& s);
std::vector<Text> protected_strings(const Text& s);

// Words as the guard and the dictionary pass see them: re.finditer(r"\S+") and guard.split_edges.
struct Edges { Text lead, core, trail; };
Edges split_edges(const Text& t);                 // punctuation at the edges | the word | punctuation
std::vector<Span> tokenize(const Text& s);       // spans of \S+ (Python's whitespace)
std::vector<Text> words(const Text& s, const std::vector<Span>& spans);

}  // namespace tc
