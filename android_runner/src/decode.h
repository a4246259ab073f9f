// Greedy decoding with the model's KV cache: plain (one token per forward after the prefill)
// and copy-speculative (prompt-lookup drafts of up to K tokens verified in one forward).
// Both produce the same tokens: speculation only changes how many forwards it takes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// Prompt lookup: the source position the next generated token is expected to copy, or -1 when
// none is found. Matches end inside prompt[lo, hi) (hi < 0: the prompt's end).
int64_t reanchor(const std::vector<int64_t>& prompt, const std::vector<int64_t>& generated, int64_t expected,
                 int64_t lo = 0, int64_t hi = -1);

}  // namespace runner
