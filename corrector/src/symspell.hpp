// SymSpell's symmetric-delete lookup (symspellpy 6.x, the `symspell` baseline and the
// dictionary pass's candidates: evaluation/dictpass.py), ported so that lookup(..., ALL)
// returns the same terms in the same order: the same delete index (every word's first
// `prefix_length` letters with up to `max_dictionary_edit_distance` deletes, words in file
// order), the same candidate walk and pruning, and the same final sort (distance, then count,
// stable). The delete index stores 64-bit hashes of the deletes, not the strings: 2.4 M
// entries for the 82,765 English words take 29 MB instead of Python's ~300 MB; two deletes
// that share a hash (p ~ 1e-7 for the whole list) would only add candidates to verify.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "unicode.hpp"

namespace tc {

// A dictionary or misspelling list that cannot be used: the message names file:line.
struct DictError : std::runtime_error { using std::runtime_error::runtime_error; };

class SymSpell {
public:
    struct Suggestion { Text term; int distance; int64_t count; };

    // `path`: "word count" lines (symspellpy's load_dictionary(path, 0, 1)); a count <= 0 is
    // not a word (count_threshold 1), a word given twice adds its counts.
    explicit SymSpell(const std::string& path, int max_dictionary_edit_distance = 2, int prefix_length = 7);

    int64_t count(const Text& word) const;  // 0 when not a word
    int64_t count(const std::string& utf8) const;
    // lookup(phrase, Verbosity.ALL, max_edit_distance): every word within the distance
    // (the phrase itself first when it is a word), sorted by distance then count.
    std::vector<Suggestion> lookup_all(const Text& phrase, int max_edit_distance) const;
    size_t size() const { return words_.size(); }

private:
    int max_dist_, prefix_len_;
    size_t max_length_ = 0;
    std::vector<Text> words_;
    std::vector<int64_t> counts_;
    std::unordered_map<Text, uint32_t> index_;
    std::vector<uint64_t> del_hash_;  // sorted; del_word_[i] is a word with that delete,
    std::vector<uint32_t> del_word_;  // words of one hash in file order (symspellpy's bins)

    void add_word(const Text& key, int64_t count);
    void build_deletes();
    void bin(const Text& del, std::vector<uint32_t>& out) const;
};

uint64_t text_hash(const Text& t);

}  // namespace tc
