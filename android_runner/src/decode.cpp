#include "decode.h"

#include <algorithm>
#include <chrono>

namespace runner {

using Clock = std::chrono::steady_clock;  // monotonic: timings never jump with the wall clock

static double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::vector<int64_t> CopyDrafter::draft(const std::vector<int64_t>& generated, int64_t k) {
  if (k <= 0) return {};
  if (!aligned_) {
    if (generated.empty()) return {};
    const int64_t at = anchor(generated);
    if (at < 0) return {};
    ptr_ = at, aligned_ = true;
  }
  const int64_t n = std::min(k, end_ - ptr_);
  if (n <= 0) return {};
  return std::vector<int64_t>(prompt_.begin() + ptr_, prompt_.begin() + ptr_ + n);
}

void CopyDrafter::advance(int64_t token) {
  if (!aligned_) return;
  if (ptr_ < end_ && prompt_[ptr_] == token)
    ++ptr_;
  else
    aligned_ = false;
}

int64_t CopyDrafter::anchor(const std::vector<int64_t>& generated) const {
  const int64_t g = static_cast<int64_t>(generated.size());
  for (int64_t n = std::min<int64_t>(max_ngram_, g); n >= 1; --n) {
    int64_t ahead = -1, last = -1;
    // e: just after an occurrence of the last n generated tokens, with a source token left to copy.
    for (int64_t e = begin_ + n; e < end_; ++e) {
      if (!std::equal(generated.end() - n, generated.end(), prompt_.begin() + (e - n))) continue;
      last = e;
      if (ahead < 0 && ptr_ >= 0 && e > ptr_) ahead = e;
    }
    if (last >= 0) return ahead >= 0 ? ahead : last;
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

// How many tokens a draft may have: the call (`fed` tokens + the draft) must fit the cache and
// the exported T bound, and the draft plus the model's own token must fit max_new_tokens.
int64_t draft_room(const Model& model, int64_t k, int64_t pos, int64_t fed, int64_t remaining) {
  return std::min({k, model.max_seq_len() - pos - fed, model.max_tokens_per_call() - fed, remaining - 1});
}

}  // namespace

DecodeResult generate(Model& model, const std::vector<int64_t>& prompt, const DecodeOptions& opt) {
  DecodeResult res;
  Run run{model, opt, res};
  const int64_t n = static_cast<int64_t>(prompt.size());
  const bool copy = opt.draft_len > 0;
  const bool spanned = copy && opt.source_begin >= 0 && opt.source_begin < opt.source_end && opt.source_end <= n;
  // Drafts may run one token past the text: the end-of-turn token that closes it, which a
  // correction also ends with. Without a span the whole prompt is the source. With a span,
  // matches are searched in the text only (not in the instruction).
  CopyDrafter drafter(prompt, spanned ? opt.source_begin : 0, spanned ? std::min(n, opt.source_end + 1) : n,
                      opt.max_ngram);
  if (spanned) drafter.start();  // the prefill call already verifies the answer's first tokens
  res.reused_tokens = opt.reuse_limit > 0 ? std::min(opt.reuse_limit, model.reusable(prompt)) : 0;
  int64_t pos = res.reused_tokens;  // cache position of input[0]
  std::vector<int64_t> input(prompt.begin() + pos, prompt.end());
  int64_t k = spanned ? opt.prefill_draft : 0;  // draft length: --prefill-draft, then --draft-len
  std::vector<int64_t> argmax;
  bool prefill = true;
  while (!run.done) {
    const int64_t fed = static_cast<int64_t>(input.size());
    const int64_t remaining = opt.max_new_tokens - static_cast<int64_t>(res.output_ids.size());
    const int64_t room = draft_room(model, k, pos, fed, remaining);
    const std::vector<int64_t> drafted = copy ? drafter.draft(res.output_ids, room) : std::vector<int64_t>{};
    bool ok;
    if (model.row_exact() || drafted.empty()) {  // the fed tokens and the draft in one call
      input.insert(input.end(), drafted.begin(), drafted.end());
      ok = run.forward(input, pos, argmax);
    } else {  // one token per call while the model confirms the draft (Model::row_exact)
      ok = run.forward(input, pos, argmax);
      std::vector<int64_t> one;
      for (size_t d = 0; ok && d < drafted.size() && argmax.back() == drafted[d]; ++d)
        if ((ok = run.forward({drafted[d]}, pos + fed + static_cast<int64_t>(d), one))) argmax.push_back(one[0]);
    }
    if (!ok) {
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
    for (size_t a = 0; a < j && going; ++a) {
      ++res.accepted_tokens, going = run.emit(drafted[a], base + 1 + a);
      drafter.advance(drafted[a]);
    }
    if (!going) break;
    pos = base + static_cast<int64_t>(j) + 1;
    const int64_t last = argmax[fed - 1 + j];  // generated, not yet in the cache
    run.emit(last, pos);
    drafter.advance(last);  // a token that is not the source's next one loses the alignment
    input.assign(1, last);
    // A fixed K after the prefill: a rejection is nearly always a typo, after which the copy
    // resumes, so shrinking the next draft (tried) only cost forwards.
    k = opt.draft_len;
  }
  run.finish();
  return res;
}

}  // namespace runner
