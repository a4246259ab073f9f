#include "align.hpp"

#include <algorithm>
#include <cstdint>

namespace tc {

size_t osa_distance(const Text& a, const Text& b) {
    size_t n = a.size(), m = b.size();
    if (!n) return m;
    if (!m) return n;
    std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (size_t j = 0; j <= m; ++j) prev[j] = j;
    for (size_t i = 1; i <= n; ++i) {
        cur[0] = i;
        for (size_t j = 1; j <= m; ++j) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = std::min(v, prev2[j - 2] + 1);
            cur[j] = v;
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

namespace {

struct EditOp { Opcode::Tag type; size_t src, dest; };

// rapidfuzz's recover_alignment over D (D[i][j] = distance of a[:i] and b[:j]); its VP/VN
// bits are D[i][j] - D[i-1][j] = +1 / -1 in row j (an s2 position) and column i (s1).
void recover(const std::vector<int>& a, const std::vector<int>& b, size_t off, std::vector<EditOp>& ops) {
    size_t n = a.size(), m = b.size();
    std::vector<uint32_t> D((n + 1) * (m + 1));
    auto at = [&](size_t i, size_t j) -> uint32_t& { return D[j * (n + 1) + i]; };
    for (size_t i = 0; i <= n; ++i) at(i, 0) = uint32_t(i);
    for (size_t j = 1; j <= m; ++j) {
        at(0, j) = uint32_t(j);
        for (size_t i = 1; i <= n; ++i)
            at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] != b[j - 1])});
    }
    auto vp = [&](size_t row, size_t col) { return at(col + 1, row + 1) == at(col, row + 1) + 1; };
    auto vn = [&](size_t row, size_t col) { return at(col + 1, row + 1) + 1 == at(col, row + 1); };
    size_t dist = at(n, m), col = n, row = m;
    std::vector<EditOp> mine(dist);
    while (row && col) {
        if (vp(row - 1, col - 1)) {
            --dist; --col;
            mine[dist] = {Opcode::Delete, col + off, row + off};
        } else {
            --row;
            if (row && vn(row - 1, col - 1)) {
                --dist;
                mine[dist] = {Opcode::Insert, col + off, row + off};
            } else {
                --col;
                if (a[col] != b[row]) { --dist; mine[dist] = {Opcode::Replace, col + off, row + off}; }
            }
        }
    }
    while (col) { --dist; --col; mine[dist] = {Opcode::Delete, col + off, row + off}; }
    while (row) { --dist; --row; mine[dist] = {Opcode::Insert, col + off, row + off}; }
    ops.insert(ops.end(), mine.begin(), mine.end());
}

}  // namespace

std::vector<Opcode> levenshtein_opcodes(const std::vector<int>& a, const std::vector<int>& b) {
    size_t pre = 0;
    while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
    size_t suf = 0;
    while (suf < a.size() - pre && suf < b.size() - pre && a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) ++suf;
    std::vector<int> sa(a.begin() + pre, a.end() - suf), sb(b.begin() + pre, b.end() - suf);
    std::vector<EditOp> ops;
    recover(sa, sb, pre, ops);
    // rapidfuzz's Opcodes(Editops): equal runs between edits, runs of one kind merged
    std::vector<Opcode> out;
    size_t sp = 0, dp = 0;
    for (size_t i = 0; i < ops.size();) {
        if (sp < ops[i].src || dp < ops[i].dest) {
            out.push_back({Opcode::Equal, sp, ops[i].src, dp, ops[i].dest});
            sp = ops[i].src;
            dp = ops[i].dest;
        }
        size_t sb0 = sp, db0 = dp;
        Opcode::Tag type = ops[i].type;
        do {
            if (type == Opcode::Replace) { ++sp; ++dp; }
            else if (type == Opcode::Insert) ++dp;
            else ++sp;
            ++i;
        } while (i < ops.size() && ops[i].type == type && sp == ops[i].src && dp == ops[i].dest);
        out.push_back({type, sb0, sp, db0, dp});
    }
    if (sp < a.size() || dp < b.size()) out.push_back({Opcode::Equal, sp, a.size(), dp, b.size()});
    return out;
}

}  // namespace tc
