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
};

struct DecodeResult {
  std::vector<int64_t> output_ids;  // generated ids, ending with the EOS id when one was produced
  double prefill_ms = 0;            // prompt forward (one call)
  double ttft_ms = 0;               // start -> first generated token known
  double decode_ms = 0;             // first token known -> last token known
  double total_ms = 0;
  int64_t forwards = 0;             // forward calls, the prefill included
  int64_t drafted_tokens = 0;
  int64_t accepted_tokens = 0;      // drafted tokens the model agreed with
  std::string error;                // empty when it went well
};

DecodeResult generate(Model& model, const std::vector<int64_t>& prompt, const DecodeOptions& opt);

// Prompt lookup: the source
// position the next generated token is expected to copy, or -1 when none is found.
int64_t reanchor(const std::vector<int64_t>& prompt, const std::vector<int64_t>& generated, int64_t expected);

}  // namespace runner
