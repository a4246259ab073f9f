#include "symspell.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <unordered_set>

#include "align.hpp"

namespace tc {

uint64_t text_hash(const Text& t) {  // FNV-1a over the code points
    uint64_t h = 1469598103934665603ull;
    for (char32_t c : t) {
        for (int b = 0; b < 4; ++b) {
            h ^= (uint32_t(c) >> (8 * b)) & 0xffu;
            h *= 1099511628211ull;
        }
    }
    return h;
}

namespace {

// helpers.try_parse_int64 on the count column; false when it is no 64-bit integer
bool parse_count(const std::string& s, int64_t& out) {
    if (s.empty()) return false;
    for (size_t k = 0; k < s.size(); ++k)
        if (!(s[k] >= '0' && s[k] <= '9') && !(k == 0 && s[k] == '-')) return false;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == ERANGE || *end) return false;
    out = int64_t(v);
    return true;
}

// str.rstrip() then str.split(" ")
std::vector<std::string> fields(std::string line) {
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r' || line.back() == '\n' ||
                             line.back() == '\v' || line.back() == '\f'))
        line.pop_back();
    std::vector<std::string> out;
    size_t at = 0;
    while (true) {
        size_t sp = line.find(' ', at);
        out.push_back(line.substr(at, sp == std::string::npos ? std::string::npos : sp - at));
        if (sp == std::string::npos) break;
        at = sp + 1;
    }
    return out;
}

}  // namespace

SymSpell::SymSpell(const std::string& path, int max_dictionary_edit_distance, int prefix_length)
    : max_dist_(max_dictionary_edit_distance), prefix_len_(prefix_length) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DictError("dictionary " + path + ": cannot be opened");
    std::string line;
    long lineno = 0;
    while (std::getline(in, line)) {
        ++lineno;
        if (lineno == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
        auto parts = fields(line);
        if (parts.size() == 1 && parts[0].empty()) continue;  // a blank line
        int64_t count = 0;
        if (parts.size() < 2 || !parse_count(parts[1], count))
            throw DictError("dictionary " + path + ":" + std::to_string(lineno) +
                            ": expected 'word count' (a word, one space, a 64-bit integer)");
        Text key;
        if (!utf8_decode(parts[0], key))
            throw DictError("dictionary " + path + ":" + std::to_string(lineno) + ": the word is not UTF-8");
        add_word(key, count);
    }
    if (words_.empty()) throw DictError("dictionary " + path + ": no words in it");
    build_deletes();
}

void SymSpell::add_word(const Text& key, int64_t count) {
    if (count <= 0) return;  // below count_threshold (1): never a word
    auto it = index_.find(key);
    if (it != index_.end()) {  // helpers.increment_count: saturating
        int64_t& c = counts_[it->second];
        c = (c > INT64_MAX - count) ? INT64_MAX : c + count;
        return;
    }
    index_.emplace(key, uint32_t(words_.size()));
    words_.push_back(key);
    counts_.push_back(count);
    max_length_ = std::max(max_length_, key.size());
}

void SymSpell::build_deletes() {
    // _edits_prefix: the word's prefix, every string 1..max_dist deletes away from it, and ""
    // for words no longer than max_dist
    std::vector<std::pair<uint64_t, uint32_t>> all;
    std::vector<Text> dels;
    for (uint32_t w = 0; w < words_.size(); ++w) {
        const Text& key = words_[w];
        dels.clear();
        std::vector<Text> level{key.substr(0, size_t(prefix_len_))}, next;
        dels = level;
        for (int depth = 0; depth < max_dist_; ++depth) {
            next.clear();
            for (const Text& base : level)
                for (size_t i = 0; i < base.size(); ++i) next.push_back(base.substr(0, i) + base.substr(i + 1));
            dels.insert(dels.end(), next.begin(), next.end());
            level.swap(next);
        }
        if (long(key.size()) <= max_dist_) dels.push_back(Text());
        std::sort(dels.begin(), dels.end());
        dels.erase(std::unique(dels.begin(), dels.end()), dels.end());
        for (const Text& d : dels) all.emplace_back(text_hash(d), w);
    }
    std::sort(all.begin(), all.end());  // by hash, then word index (file order)
    del_hash_.reserve(all.size());
    del_word_.reserve(all.size());
    for (auto& [h, w] : all) { del_hash_.push_back(h); del_word_.push_back(w); }
}

void SymSpell::bin(const Text& del, std::vector<uint32_t>& out) const {
    out.clear();
    uint64_t h = text_hash(del);
    auto lo = std::lower_bound(del_hash_.begin(), del_hash_.end(), h);
    for (auto it = lo; it != del_hash_.end() && *it == h; ++it) out.push_back(del_word_[size_t(it - del_hash_.begin())]);
}

int64_t SymSpell::count(const Text& word) const {
    auto it = index_.find(word);
    return it == index_.end() ? 0 : counts_[it->second];
}

int64_t SymSpell::count(const std::string& utf8) const {
    Text t;
    return utf8_decode(utf8, t) ? count(t) : 0;
}

std::vector<SymSpell::Suggestion> SymSpell::lookup_all(const Text& phrase, int med) const {
    if (med > max_dist_) throw DictError("SymSpell: distance too large");
    std::vector<Suggestion> out;
    const long plen = long(phrase.size());
    if (plen - med > long(max_length_)) return out;
    if (long c = count(phrase)) out.push_back({phrase, 0, c});
    if (med == 0) return out;
    std::unordered_set<Text> considered_deletes;
    std::unordered_set<uint32_t> considered;  // suggestions (dictionary words) already verified
    const long ppre = std::min<long>(plen, prefix_len_);
    std::vector<Text> cands{phrase.substr(0, size_t(ppre))};
    std::vector<uint32_t> found;
    for (size_t ptr = 0; ptr < cands.size(); ++ptr) {
        const Text cand = cands[ptr];
        const long clen = long(cand.size()), len_diff = ppre - clen;
        if (len_diff > med) continue;
        bin(cand, found);
        for (uint32_t w : found) {
            const Text& s = words_[w];
            if (s == phrase) continue;
            const long slen = long(s.size());
            if (std::labs(slen - plen) > med || slen < clen || (slen == clen && s != cand)) continue;
            const long spre = std::min<long>(slen, prefix_len_);
            if (spre > ppre && spre - clen > med) continue;
            long distance = 0;
            if (clen == 0) {
                distance = std::max(plen, slen);
                if (distance > med || considered.count(w)) continue;
            } else if (slen == 1) {
                distance = plen - 1;  // s == cand, a delete of the phrase: its letter is in it
                if (distance > med || considered.count(w)) continue;
            } else {
                const bool at_edge = prefix_len_ - med == clen;
                const long md = at_edge ? std::min(plen, slen) - prefix_len_ : 0;
                bool skip = (at_edge && md > 1 && phrase.substr(size_t(plen + 1 - md)) != s.substr(size_t(slen + 1 - md))) ||
                            (md > 0 && phrase[size_t(plen - md)] != s[size_t(slen - md)] &&
                             (phrase[size_t(plen - md - 1)] != s[size_t(slen - md)] ||
                              phrase[size_t(plen - md)] != s[size_t(slen - md - 1)]));
                if (skip || considered.count(w)) continue;
                considered.insert(w);
                distance = long(osa_distance(phrase, s));
                if (distance > med) continue;
            }
            out.push_back({s, int(distance), counts_[w]});
        }
        if (len_diff < med && clen <= prefix_len_) {
            for (long i = 0; i < clen; ++i) {
                Text del = cand.substr(0, size_t(i)) + cand.substr(size_t(i) + 1);
                if (considered_deletes.insert(del).second) cands.push_back(del);
            }
        }
    }
    if (out.size() > 1)
        std::stable_sort(out.begin(), out.end(), [](const Suggestion& a, const Suggestion& b) {
            return a.distance == b.distance ? a.count > b.count : a.distance < b.distance;
        });
    return out;
}

}  // namespace tc
