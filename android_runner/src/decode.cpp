#include "decode.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace runner {

using Clock = std::chrono::steady_clock;  // monotonic: timings never jump with the wall clock

static double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

static constexpr int kMaxNgram = 4;  // longest suffix of the output matched against the prompt

int64_t reanchor(const std::vector<int64_t>& prompt, const std::vector<int64_t>& generated, int64_t expected,
                 int64_t lo, int64_t hi) {
  const int64_t g = static_cast<int64_t>(generated.size());
  hi = hi < 0 ? static_cast<int64_t>(prompt.size()) : std::min<int64_t>(hi, prompt.size());
  for (int64_t n = std::min<int64_t>(kMaxNgram, g); n >= 1; --n) {
    int64_t best = -1, best_dist = 0;
    // prompt[i-n+1..i] == last n generated tokens -> the next token copies prompt[i+1].
    for (int64_t i = std::max<int64_t>(lo, 0) + n - 1; i + 1 < hi; ++i) {
      bool match = true;
      for (int64_t k = 0; k < n && match; ++k) match = prompt[i - k] == generated[g - 1 - k];
      if (!match) continue;
      // Nearest to where the copy was expected to continue (an edit moves it only a little);
      // the first occurrence wins a tie, which favours the text over a repeat later on.
      int64_t dist = std::llabs(i + 1 - expected);
      if (best < 0 || dist < best_dist) best = i + 1, best_dist = dist;
    }
    if (best >= 0) return best;
  }
  return -1;
}

namespace {

// Shared loop state: emits tokens, applies the stop rules, checks the time budget.
struct Run {
  Model& model;
  const DecodeOptions& opt;
  DecodeResult& res;
  Clock::time_point t0 = Clock::now();
  Clock::time_point first_token{};
  bool done = false;

  // Appends one generated token; returns false once generation has stopped.
  bool emit(int64_t tok, int64_t next_pos) {
    if (res.output_ids.empty()) first_token = Clock::now(), res.ttft_ms = ms_since(t0);
    res.output_ids.push_back(tok);
    if (model.is_eos(tok) || static_cast<int64_t>(res.output_ids.size()) >= opt.max_new_tokens ||
        next_pos >= model.max_seq_len())
      done = true;
    return !done;
  }

  bool forward(const std::vector<int64_t>& ids, int64_t pos, std::vector<int64_t>& argmax) {
    ++res.forwards;
    if (!model.forward(ids, pos, argmax, res.error)) return false;
    if (opt.timeout_ms > 0 && ms_since(t0) > opt.timeout_ms) {
      res.error = "timeout: exceeded " + std::to_string(static_cast<int64_t>(opt.timeout_ms)) + " ms after " +
                  std::to_string(res.output_ids.size()) + " tokens";
      return false;
    }
    return true;
  }

  void finish() {
    res.total_ms = ms_since(t0);
    if (!res.output_ids.empty())
      res.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - first_token).count();
  }
};

// Up to k prompt tokens from the anchor, cut so the call (`fed` tokens + the draft) fits the
// cache, the exported T bound and max_new_tokens, and so it stops at `stop` (exclusive).
std::vector<int64_t> draft(const std::vector<int64_t>& prompt, int64_t anchor, int64_t k, int64_t pos, int64_t fed,
                           const Model& model, int64_t remaining, int64_t stop) {
  if (anchor < 0) return {};
  k = std::min({k, model.max_seq_len() - pos - fed, model.max_tokens_per_call() - fed, remaining - 1,
                stop - anchor});
  if (k <= 0) return {};
  return std::vector<int64_t>(prompt.begin() + anchor, prompt.begin() + anchor + k);
}

}  // namespace

DecodeResult generate(Model& model, const std::vector<int64_t>& prompt, const DecodeOptions& opt) {
  DecodeResult res;
  Run run{model, opt, res};
  const int64_t n = static_cast<int64_t>(prompt.size());
  const bool copy = opt.draft_len > 0;
  const bool spanned = copy && opt.source_begin >= 0 && opt.source_begin < opt.source_end && opt.source_end <= n;
  // Drafts may run one token past the text: the end-of-turn token that closes it, which a
  // correction also ends with. Without a span the whole prompt is the source.
  const int64_t stop = spanned ? std::min(n, opt.source_end + 1) : n;
  res.reused_tokens = opt.reuse_limit > 0 ? std::min(opt.reuse_limit, model.reusable(prompt)) : 0;
  int64_t pos = res.reused_tokens;  // cache position of input[0]
  std::vector<int64_t> input(prompt.begin() + pos, prompt.end());
  int64_t anchor = spanned ? opt.source_begin : -1;  // prompt index the next token should copy
  int64_t expect = anchor;  // where the copy is expected to continue (survives stretches with no anchor)
  int64_t k = spanned ? opt.prefill_draft : 0;  // draft length: --prefill-draft, then --draft-len
  std::vector<int64_t> argmax;
  bool prefill = true;
  while (!run.done) {
    const int64_t fed = static_cast<int64_t>(input.size());
    std::vector<int64_t> drafted = draft(prompt, anchor, k, pos, fed, model,
                                         opt.max_new_tokens - static_cast<int64_t>(res.output_ids.size()), stop);
    input.insert(input.end(), drafted.begin(), drafted.end());
    if (!run.forward(input, pos, argmax)) {
      if (prefill) model.forget_prompt();  // the cache may hold part of a failed prefill
      break;
    }
    if (prefill) {
      res.prefill_ms = ms_since(run.t0);
      model.cached_prompt(prompt);
      prefill = false;
    }
    // Row fed-1 predicts the token after the last fed token; row fed-1+j the one after draft j.
    // Accept drafts while the model agrees with them, then take the model's own token.
    // Rejected positions in the cache are overwritten later (static cache, causal mask by position).
    const int64_t base = pos + fed - 1;  // cache position of the last fed token
    size_t j = 0;
    while (j < drafted.size() && argmax[fed - 1 + j] == drafted[j]) ++j;
    res.drafted_tokens += static_cast<int64_t>(drafted.size());
    bool going = true;
    for (size_t a = 0; a < j && going; ++a) ++res.accepted_tokens, going = run.emit(drafted[a], base + 1 + a);
    if (!going) break;
    pos = base + static_cast<int64_t>(j) + 1;
    const int64_t last = argmax[fed - 1 + j];  // generated, not yet in the cache
    run.emit(last, pos);
    input.assign(1, last);
    if (!copy) continue;
    // A fixed K after the prefill: a rejection is nearly always a typo, after which the copy
    // resumes, so shrinking the next draft (tried) only cost forwards.
    k = opt.draft_len;
    // Keep copying while the model follows the prompt; after an edit, re-anchor near the
    // source position the copy would have reached (a substitution keeps it, an insertion or
    // deletion shifts it by a token or two).
    expect = (anchor >= 0 ? anchor : expect) + static_cast<int64_t>(j) + 1;
    const bool follows = anchor >= 0 && j == drafted.size() && expect - 1 < n && prompt[expect - 1] == last;
    // With a span, matches are searched in the text only (not in the instruction).
    anchor = follows ? expect : reanchor(prompt, res.output_ids, expect, spanned ? opt.source_begin : 0, stop);
  }
  run.finish();
  return res;
}

}  // namespace runner
