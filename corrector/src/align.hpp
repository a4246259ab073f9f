// The edit distances the guard uses, as rapidfuzz computes them:
//   - OSA distance (optimal string alignment) between two code-point strings;
//   - Levenshtein opcodes between two token lists, with rapidfuzz's tie-breaking: common
//     prefix and suffix removed, then the alignment recovered from the DP matrix the way
//     rapidfuzz's recover_alignment walks its bit-parallel matrix (detail/Levenshtein_impl.hpp).
// Equal alignments are not interchangeable: the guard's decisions follow the opcodes.
#pragma once

#include <string>
#include <vector>

#include "unicode.hpp"

namespace tc {

size_t osa_distance(const Text& a, const Text& b);

struct Opcode {
    enum Tag { Equal, Replace, Insert, Delete } tag;
    size_t i1, i2, j1, j2;
};

// Token ids: equal ids are equal tokens.
std::vector<Opcode> levenshtein_opcodes(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace tc
