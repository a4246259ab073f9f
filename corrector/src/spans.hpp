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

}  // namespace tc
