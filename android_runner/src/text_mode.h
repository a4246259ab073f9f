// Text mode (issue 27): requests carry "text" instead of "prompt_ids". The corrector library
// (../corrector, its C API) builds the prompt ids from the .pte metadata and tokenizer.json,
// and turns the output ids into the raw answer and the guarded text, timing both stages.
// Enabled by --text-meta M.json --english-words FILE; the id mode is unchanged.
// With --dictionary FREQ.txt [--misspellings LIST.dat] the dictionary pass
// (evaluation/dictpass.py, corrector/src/dictpass.cpp) runs after the guard, its candidates
// scored teacher-forced by the same .pte (DictScorer, as export.corrector.pte_scorer does).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decode.h"
#include "json.h"

struct tc_corrector;

namespace runner {

class TextMode {
 public:
  TextMode(const std::string& metadata_json, const std::string& english_words);  // throws runtime_error
  ~TextMode();
  TextMode(const TextMode&) = delete;
  TextMode& operator=(const TextMode&) = delete;

  // The prompt's ids for `text`; `ms` gets the tokenize time. Throws runtime_error.
  std::vector<int64_t> prompt_ids(const std::string& text, double& ms) const;
  // Adds raw_text, guarded_text, tokenize_ms, guard_ms and end_to_end_ms to a result line; with
  // the dictionary also dict_text, dict_needed and dict_ms (in end_to_end_ms).
  void annotate(const std::string& text, double tokenize_ms, const DecodeResult& res, json::Value& v) const;

  class DictScorer;  // the .pte's teacher-forced log-probs (text_mode.cpp)

 private:
  tc_corrector* c_ = nullptr;
  std::unique_ptr<DictScorer> scorer_;  // set when the dictionary pass is on
  void dictionary_pass(const std::string& text, const std::string& raw, json::Value& v, double& ms) const;
};

// The process's text mode (main sets it once, before reading requests); null in id mode.
void set_text_mode(const TextMode* t);
const TextMode* text_mode();

}  // namespace runner
