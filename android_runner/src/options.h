// Command line of typo_runner (see usage()).
#pragma once

#include <stdexcept>
#include <string>

#include "defaults.h"

namespace runner {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string model, requests, results, summary;
  int threads = 0;        // 0 = ExecuTorch's default (one per core)
  int warmup = 0;         // untimed runs of the first valid request before measuring
  int reps = 1;           // timed runs per request; timings are the median
  double timeout_ms = 0;  // per request and run; 0 = none
  int draft_len = 0;      // --speculate copy sets it (default kDefaultDraftLen)
  // Copy mode: source tokens verified inside the prefill call (needs source_span), and the
  // longest output suffix matched in the source to re-anchor after an edit.
  int prefill_draft = kDefaultPrefillDraft;
  int max_ngram = kDefaultMaxNgram;
  bool prefix_cache = true;  // reuse the cached prompt opening of the previous request
  std::string text_meta, english_words;  // text mode (text_mode.h): both or neither
  // The dictionary pass in text mode: SymSpell's frequency list, and an optional Mitton .dat list
  std::string dictionary, misspellings;
  std::string dict_context;  // --dict-context typed|masked|both; "" = the library's default
};

std::string usage();  // lists the compiled-in copy-speculation defaults
Options parse_args(int argc, char** argv);  // throws UsageError
// --results and --summary (and their .tmp files) may not be --model, --requests or each other,
// also through a symlink or a hard link; throws UsageError naming both flags.
void check_file_roles(const Options& o);
// The options parse_args returned last. Text mode reads its dictionary flags here, since main
// constructs TextMode with the two text flags only (pass them explicitly when main changes next).
const Options& parsed_options();

}  // namespace runner
