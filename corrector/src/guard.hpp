// evaluation/guard.py in C++: keep a model's output only where it corrects the input.
// A line-by-line port (same units, same costs, same alignment, same order of checks), so
// its decisions are Python's exactly; tests/test_corrector_cpp.py proves it on every
// evaluation set and on the guard's property-test strategies.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "unicode.hpp"

namespace tc {

struct GuardError : std::runtime_error { using std::runtime_error::runtime_error; };

struct GuardConfig {  // evaluation/guard.py GuardConfig, same defaults
    double max_edit_ratio = 0.4;
    int min_edits = 1;
    int max_edits = 4;
    int min_word_len = 2;
    int max_punct_len = 3;
    bool allow_merge_split = true;
    int max_resegment = 3;
    bool expand_abbreviations = true;
    int short_word_len = 2;
    bool allow_duplicate_removal = true;
    long max_block_cells = 10000;
    int max_word_chars = 64;
    int align_window = 2048;
    double max_rejected_share = 0.5;
    bool add_exclamation = false;  // off: '!' in an input that has none becomes '.' (calm)
    void check() const;  // GuardError on a value GuardConfig.__post_init__ refuses
};

// evaluation/guard.py calm(): every '!' run of `output` becomes '.' ('?!' becomes '?') when
// `input` has no '!': emphasis is the writer's to add, not the corrector's.
Text calm(const Text& input, const Text& output);

// `key` (a lowercased word) is one of guard.ABBREVIATIONS ("pls", "thx", ...)
bool is_abbreviation(const Text& key);

class Guard {
public:
    // `english_words`: symspellpy's frequency_dictionary_en_82_765.txt ("word count" lines).
    Guard(const std::string& english_words_path, GuardConfig cfg = {});
    std::string guard(const std::string& input, const std::string& output) const;  // UTF-8
    Text guard(const Text& input, const Text& output) const;
    const GuardConfig& config() const { return cfg_; }
    // refused_words(input, output): indices of the input's whitespace tokens whose change the
    // guard refuses as single words (1:1 units unit_cost rejects; none when the output is
    // mostly a rewrite). A read-only view for the dictionary pass; changes no decision.
    std::vector<size_t> refused_words(const Text& input, const Text& output) const;

private:
    GuardConfig cfg_;
    std::unordered_map<std::string, long long> english_;  // UTF-8 word -> corpus count
    friend struct GuardRun;
};

}  // namespace tc
