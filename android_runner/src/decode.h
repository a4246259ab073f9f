// Greedy decoding with the model's KV cache: plain (one token per forward after the prefill)
// and copy-speculative (prompt-lookup drafts of up to K tokens verified in one forward).
// Both produce the same tokens: speculation only changes how many forwards it takes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "defaults.h"
#include "model.h"

namespace runner {

struct DecodeOptions {
  int64_t max_new_tokens = 0;  // generated tokens, the EOS included (like HF generate)
  double timeout_ms = 0;       // 0 = none; checked after every forward
  int draft_len = 0;           // 0 = plain greedy; K > 0 = copy speculation with K drafted tokens
  // Copy mode: the text to correct, prompt[source_begin, source_end) (-1 = unknown). With it
  // the prefill call also verifies the first `prefill_draft` tokens of that text (an answer
  // starts by copying it), and drafts stop one token after its end (the end-of-turn token).
  int64_t source_begin = -1, source_end = -1;
  int prefill_draft = 0;
  int max_ngram = kDefaultMaxNgram;  // re-anchoring matches the last max_ngram..1 generated tokens
  int64_t reuse_limit = -1;    // prefix cache: reuse at most this many cached prompt tokens (-1: off)
};

struct DecodeResult {
  std::vector<int64_t> output_ids;  // generated ids, ending with the EOS id when one was produced
  double prefill_ms = 0;            // prompt forward (one call)
  double ttft_ms = 0;               // start -> first generated token known
  double decode_ms = 0;             // first token known -> last token known
  double total_ms = 0;
  int64_t forwards = 0;             // forward calls, the prefill included
  int64_t reused_tokens = 0;        // prompt tokens the prefix cache spared the prefill
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;      // drafted tokens the model agreed with
  std::string error;                // empty when it went well
};

DecodeResult generate(Model& model, const std::vector<int64_t>& prompt, const DecodeOptions& opt);

// Copy ("prompt lookup") drafter: the same algorithm as export/speculate.py's CopyDrafter, so the
// runner and PteModel draft, and therefore call forward, alike (tests/test_decoding_defaults.py).
// The source is prompt[begin, end); `ptr` is the prompt index of the token the answer should copy
// next. While the model copies, ptr moves with every token. After an edit the next draft
// re-anchors on the longest suffix (max_ngram..1 tokens) of the output found in the source: the
// first occurrence past where the copy broke off (an edit moves the copy forward), else the last
// one (also with no alignment yet: the text to correct sits at the prompt's end).
class CopyDrafter {
 public:
  CopyDrafter(const std::vector<int64_t>& prompt, int64_t begin, int64_t end, int max_ngram)
      : prompt_(prompt), begin_(begin), end_(end), max_ngram_(max_ngram) {}
  void start() { ptr_ = begin_, aligned_ = true; }  // the answer starts by copying the source
  // Up to k source tokens expected to follow `generated` (the output so far); empty when none.
  std::vector<int64_t> draft(const std::vector<int64_t>& generated, int64_t k);
  void advance(int64_t token);  // one token appended to the output

 private:
  int64_t anchor(const std::vector<int64_t>& generated) const;  // -1: the output is not in the source

  const std::vector<int64_t>& prompt_;
  int64_t begin_, end_;
  int max_ngram_;
  int64_t ptr_ = -1;  // -1: never aligned; kept after an edit, re-anchoring looks past it
  bool aligned_ = false;
};

}  // namespace runner
