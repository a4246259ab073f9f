// evaluation/dictpass.py in C++: after the model and its guard, a noisy-channel choice among
// dictionary words for the words the model left wrong. The same rule, step for step:
//   - targets: words of the guarded output outside SymSpell's dictionary, and words whose
//     change the guard refused; never protected spans, words with digits, chat abbreviations,
//     capitalised words that do not open a sentence; the first max_words of them;
//   - candidates: SymSpell within max_edit_distance, splits in two common words, merges with a
//     neighbour, an apostrophe put in; prior = -edit_weight x keyboard-weighted edit distance
//     (+ list_bonus when the misspelling list pairs them); the best max_candidates by prior and
//     word frequency, apostrophe forms on top;
//   - the pick: the model's teacher-forced log-prob of the answer with each candidate, plus
//     the prior, must beat keeping the word by margin and the runner-up by tie_margin;
//   - case follows the typed word; the guard has the last word.
//   - what the model scores against (`context`): the typed text, the text with the words under
//     review masked (masked()), or the sum of both log-probs; the answers are tokenized once.
// The model is reached through a ScoreFn (prefix ids, continuation ids -> summed log-probs),
// so the library needs no ExecuTorch. tests/test_dictpass_cpp.py proves the outputs equal to
// Python's by replaying Python's own scorer calls.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "corrector.hpp"
#include "symspell.hpp"

namespace tc {

struct DictConfig {  // evaluation/dictpass.py DictConfig, same defaults
    double margin = 1.0;
    double tie_margin = 0.5;
    int max_edit_distance = 2;
    int max_candidates = 5;
    int max_words = 6;
    int min_word_len = 3;
    double edit_weight = 1.5;
    double list_bonus = 2.0;
    bool refused_words = true;
    bool splits = true;
    bool merges = true;
    int64_t min_part_count = 1000000;
    // "typed" | "masked" | "both": the prompt(s) the answers are scored against (DictConfig.context)
    std::string context = "typed";
    std::string mask = "___";  // what masked() puts for each word under review (one word, UTF-8)
    void check() const;  // DictError on what DictConfig.__post_init__ refuses, in its words
};

// dictpass.masked: `input` with every whole-word occurrence of the words' cores (edge punctuation
// off), in any case, replaced by `mask`. Python's (?<![\w'])(?:a|b)(?![\w']) with re.IGNORECASE,
// for cores of ASCII letters and apostrophes (all the pass ever masks: its targets are such
// words); a core letter also matches what Python's re folds to it (K for k, İ and ı for i, ſ for
// s). Cores with other letters match by one-code-point lowercase only (Python would also apply
// its other simple folds there).
Text masked(const Text& input, const std::vector<Text>& words, const Text& mask);

// (typed, meant) lowercase pairs of a Mitton-format list (".dat": "$meant", then one typed
// word a line), as dictpass.misspelling_pairs reads it. Other list formats (TOEFL .tsv,
// Norvig spell-testset) are written into one .dat on the host
// (device_bench.dictionary.write_misspellings_dat).
class Misspellings {
public:
    Misspellings() = default;
    explicit Misspellings(const std::string& path);  // DictError naming the file (and line)
    bool has(const std::string& typed, const std::string& meant) const { return pairs_.count({typed, meant}) > 0; }
    size_t size() const { return pairs_.size(); }

private:
    std::set<std::pair<std::string, std::string>> pairs_;
};

// What the pass asks of a model: the summed log-prob of each continuation after the prefix.
using ScoreFn = std::function<std::vector<double>(const std::vector<int32_t>& prefix,
                                                  const std::vector<std::vector<int32_t>>& continuations)>;

struct Candidate {  // replace output tokens [start, end) (their letters) by `text`
    size_t start, end;
    std::string text;
    double prior;
};

struct PassResult {
    std::string output;                // after the pass, guarded against the input
    bool needed = false;               // the sentence had words the pass looked at
    std::vector<std::string> changes;  // "typed->chosen" for every accepted change
};

double edit_cost(const std::string& typed, const std::string& meant);  // ASCII, lowercased inside
bool adjacent(char a, char b);                                         // core/keyboard.py

class DictionaryPass {
public:
    // `dictionary`: SymSpell's frequency list ("word count" lines); `misspellings`: a .dat
    // list, "" for none (no list bonus).
    DictionaryPass(const Corrector& corrector, const std::string& dictionary, const std::string& misspellings,
                   DictConfig cfg = {});

    // The model's raw output for `input`: guarded, the pass, guarded again. `max_len`: the
    // model's context; a prompt + answer longer than it leaves the guarded output.
    PassResult run(const std::string& input, const std::string& raw, const ScoreFn& score, size_t max_len) const;

    // The parts, for tests and the bench.
    std::vector<size_t> targets(const Text& input, const Text& raw, const Text& out) const;
    std::vector<Candidate> candidates(const std::vector<Text>& tokens, size_t k) const;
    const DictConfig& config() const { return cfg_; }

private:
    const Corrector& corr_;
    DictConfig cfg_;
    SymSpell sym_;
    Misspellings pairs_;
    int32_t answer_eos_;

    std::vector<int32_t> answer_ids(const std::string& answer) const;
    // the answers' summed log-probs over the configured context(s); empty when a prompt and the
    // longest answer do not fit max_len
    std::vector<double> context_log_probs(const Text& input, const std::vector<Text>& words,
                                          const std::vector<std::vector<int32_t>>& conts, const ScoreFn& score,
                                          size_t max_len) const;
};

}  // namespace tc
