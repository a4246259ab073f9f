#include "text_mode.h"

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "options.h"
#include "typo_corrector.h"

using executorch::extension::make_tensor_ptr;
using executorch::extension::module::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

namespace runner {
namespace {

const TextMode* g_text_mode = nullptr;

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double r3(double ms) { return static_cast<double>(static_cast<int64_t>(ms * 1000 + 0.5)) / 1000; }

// A C API failure as the runner's error: the status name and the library's message.
std::runtime_error failure(const char* what, tc_status st, char* err) {
  std::string msg = std::string(what) + ": " + tc_status_name(st) + (err ? std::string(": ") + err : "");
  tc_free(err);
  return std::runtime_error(msg);
}

int64_t to_int(const EValue& v) {
  if (v.isInt()) return v.toInt();
  if (v.isTensor() && v.toTensor().numel() == 1) return v.toTensor().const_data_ptr<int64_t>()[0];
  throw std::runtime_error("dictionary scorer: get_max_seq_len returned a non-integer");
}

}  // namespace

// The dictionary pass's ScoreFn on the .pte, as export.corrector.pte_scorer computes it: the
// prompt and the tokens every continuation shares are fed once (the prompt positions the
// previous call left in the KV cache reused, the last prompt token always fed again: its logits
// score the first answer token), then each continuation's own tokens from there. It owns a
// second Module on the same file (mmap: the weights are shared pages; its KV cache is its own),
// because the runner's Model exposes only the argmax of each row.
class TextMode::DictScorer {
 public:
  explicit DictScorer(const std::string& pte) : m_(std::make_unique<Module>(pte, Module::LoadMode::Mmap)) {
    if (m_->load_method("forward") != Error::Ok) throw std::runtime_error("dictionary scorer: cannot load " + pte);
    auto len = m_->execute("get_max_seq_len");
    if (!len.ok() || len->empty()) throw std::runtime_error("dictionary scorer: " + pte + " lacks get_max_seq_len");
    max_seq_len = to_int((*len)[0]);
    auto meta = m_->method_meta("forward");
    if (!meta.ok()) throw std::runtime_error("dictionary scorer: " + pte + " has no forward method");
    auto in = meta->input_tensor_meta(0);
    if (!in.ok() || in->sizes().size() != 2) throw std::runtime_error("dictionary scorer: forward must take [1,T] ids");
    max_call_ = in->sizes()[1];
  }

  int64_t max_seq_len = 0;

  std::vector<double> score(const std::vector<int64_t>& prefix, const std::vector<std::vector<int64_t>>& conts) {
    if (prefix.empty() || conts.empty()) throw std::runtime_error("score needs a prefix and continuations");
    size_t shared = common_prefix(conts), longest = 0;
    std::vector<int64_t> head(prefix);
    head.insert(head.end(), conts[0].begin(), conts[0].begin() + static_cast<long>(shared));
    for (const auto& c : conts) longest = std::max(longest, c.size() - shared);
    if (static_cast<int64_t>(head.size() + longest) > max_seq_len)
      throw std::runtime_error("the continuations do not fit max_seq_len " + std::to_string(max_seq_len));
    size_t n = 0;  // reuse cached prompt positions, never the last prompt token
    while (n < cached_.size() && n + 1 < head.size() && cached_[n] == head[n]) ++n;
    n = std::min(n, prefix.size() - 1);
    double base = 0;
    std::vector<float> last;
    const size_t first = prefix.size() - 1;  // the row that scores the first answer token
    cached_.clear();
    forward(std::vector<int64_t>(head.begin() + static_cast<long>(n), head.end()), static_cast<int64_t>(n),
            [&](size_t pos, const std::vector<float>& lp) {
              if (pos >= first && pos < first + shared) base += lp[static_cast<size_t>(conts[0][pos - first])];
              if (pos + 1 == head.size()) last = lp;
            });
    cached_ = head;
    std::vector<double> out;
    for (const auto& c : conts) {
      std::vector<int64_t> tail(c.begin() + static_cast<long>(shared), c.end());
      double total = base + last[static_cast<size_t>(tail[0])];
      float sum = 0;  // torch sums the tail's gathered log-probs in float32
      if (tail.size() > 1)
        forward(std::vector<int64_t>(tail.begin(), tail.end() - 1), static_cast<int64_t>(head.size()),
                [&](size_t pos, const std::vector<float>& lp) {
                  sum += lp[static_cast<size_t>(tail[pos - head.size() + 1])];
                });
      out.push_back(total + static_cast<double>(sum));
    }
    return out;
  }

 private:
  std::unique_ptr<Module> m_;
  int64_t max_call_ = 0;
  std::vector<int64_t> cached_;  // the tokens at cache positions 0..size-1

  static size_t common_prefix(const std::vector<std::vector<int64_t>>& seqs) {  // dictpass.common_prefix
    size_t n = seqs[0].size();
    for (const auto& s : seqs) n = std::min(n, s.size());
    n = n ? n - 1 : 0;
    for (size_t i = 0; i < n; ++i)
      for (const auto& s : seqs)
        if (s[i] != seqs[0][i]) return i;
    return n;
  }

  // Runs `ids` at positions start.. in calls of at most max_call_ tokens; `row(pos, log_softmax)`
  // for every position (float32, like torch.log_softmax on the logits).
  template <typename F>
  void forward(const std::vector<int64_t>& ids, int64_t start, F&& row) {
    std::vector<float> lp;
    for (size_t at = 0; at < ids.size(); at += static_cast<size_t>(max_call_)) {
      const size_t t = std::min(ids.size() - at, static_cast<size_t>(max_call_));
      std::vector<int64_t> chunk(ids.begin() + static_cast<long>(at), ids.begin() + static_cast<long>(at + t));
      std::vector<int64_t> pos(t);
      for (size_t i = 0; i < t; ++i) pos[i] = start + static_cast<int64_t>(at + i);
      auto ids_t = make_tensor_ptr({1, static_cast<int32_t>(t)}, std::move(chunk));
      auto pos_t = make_tensor_ptr({static_cast<int32_t>(t)}, std::move(pos));
      auto res = m_->forward({EValue(*ids_t), EValue(*pos_t)});
      if (!res.ok() || res->empty() || !(*res)[0].isTensor())
        throw std::runtime_error("dictionary scorer: forward failed at position " + std::to_string(start + at));
      const auto& logits = (*res)[0].toTensor();
      const int64_t v = logits.size(logits.dim() - 1);
      const float* data = logits.const_data_ptr<float>();
      lp.resize(static_cast<size_t>(v));
      for (size_t r = 0; r < t; ++r) {
        const float* x = data + static_cast<int64_t>(r) * v;
        const float mx = *std::max_element(x, x + v);
        double s = 0;
        for (int64_t k = 0; k < v; ++k) s += std::exp(static_cast<double>(x[k] - mx));
        const float ls = static_cast<float>(std::log(s));
        for (int64_t k = 0; k < v; ++k) lp[static_cast<size_t>(k)] = (x[k] - mx) - ls;
        row(static_cast<size_t>(start) + at + r, lp);
      }
    }
  }
};

void set_text_mode(const TextMode* t) { g_text_mode = t; }
const TextMode* text_mode() { return g_text_mode; }

TextMode::TextMode(const std::string& metadata_json, const std::string& english_words) {
  const Options& o = parsed_options();
  char* err = nullptr;
  tc_status st = TC_OK;
  if (o.dictionary.empty()) {
    st = tc_open(metadata_json.c_str(), english_words.c_str(), &c_, &err);
    if (st != TC_OK) throw failure("text mode (--text-meta, --english-words)", st, err);
    return;
  }
  tc_dict_options opts;  // the library's defaults (evaluation/dictpass.py's), the context if given
  tc_dict_options_init(&opts);
  if (!o.dict_context.empty()) opts.context = o.dict_context.c_str();
  st = tc_open_with_dictionary(metadata_json.c_str(), english_words.c_str(), o.dictionary.c_str(),
                               o.misspellings.empty() ? nullptr : o.misspellings.c_str(), &opts, &c_, &err);
  if (st != TC_OK) throw failure("text mode with the dictionary (--dictionary, --misspellings)", st, err);
  scorer_ = std::make_unique<DictScorer>(o.model);
}

TextMode::~TextMode() { tc_close(c_); }

std::vector<int64_t> TextMode::prompt_ids(const std::string& text, double& ms) const {
  const double t0 = now_ms();
  int32_t* ids = nullptr;
  size_t n = 0;
  char* err = nullptr;
  tc_status st = tc_prompt_ids(c_, text.c_str(), &ids, &n, &err);
  if (st != TC_OK) throw failure("'text'", st, err);
  std::vector<int64_t> out(ids, ids + n);
  tc_free(ids);
  ms = now_ms() - t0;
  return out;
}

namespace {


}  // namespace

void TextMode::dictionary_pass(const std::string& text, const std::string& raw, json::Value& v, double& ms) const {
  struct Ctx { DictScorer* s; std::string error; } ctx{scorer_.get(), ""};
  auto cb = [](void* user, const int32_t* prefix, size_t np, const int32_t* const* conts, const size_t* lens,
               size_t n, double* scores) -> int {
    auto* c = static_cast<Ctx*>(user);
    try {
      std::vector<std::vector<int64_t>> cs;
      for (size_t i = 0; i < n; ++i) cs.emplace_back(conts[i], conts[i] + lens[i]);
      auto got = c->s->score(std::vector<int64_t>(prefix, prefix + np), cs);
      std::copy(got.begin(), got.end(), scores);
      return 0;
    } catch (const std::exception& e) {
      c->error = e.what();
      return 1;
    }
  };
  const double t0 = now_ms();
  char *out = nullptr, *err = nullptr;
  int needed = 0;
  tc_status st = tc_dictionary_pass(c_, text.c_str(), raw.c_str(), cb, &ctx,
                                    static_cast<size_t>(scorer_->max_seq_len), &out, &needed, &err);
  ms = now_ms() - t0;
  if (st != TC_OK) {
    std::string why = failure("the dictionary pass", st, err).what();
    v.set("error", ctx.error.empty() ? why : why + " (" + ctx.error + ")");
    return;
  }
  v.set("dict_text", std::string(out));
  v.set("dict_needed", needed != 0);
  v.set("dict_ms", r3(ms));
  tc_free(out);
}

void TextMode::annotate(const std::string& text, double tokenize_ms, const DecodeResult& res, json::Value& v) const {
  const double t0 = now_ms();
  std::vector<int32_t> ids(res.output_ids.begin(), res.output_ids.end());
  char *raw = nullptr, *guarded = nullptr, *err = nullptr;
  tc_status st = tc_finish(c_, text.c_str(), ids.data(), ids.size(), &raw, &guarded, &err);
  const double guard_ms = now_ms() - t0;
  if (st != TC_OK) {
    v.set("error", failure("decoding the answer", st, err).what());
    return;
  }
  const std::string raw_text(raw);
  v.set("raw_text", raw_text);
  v.set("guarded_text", std::string(guarded));
  tc_free(raw);
  tc_free(guarded);
  double dict_ms = 0;
  if (scorer_) dictionary_pass(text, raw_text, v, dict_ms);
  v.set("tokenize_ms", r3(tokenize_ms));
  v.set("guard_ms", r3(guard_ms));
  v.set("end_to_end_ms", r3(tokenize_ms + res.total_ms + guard_ms + dict_ms));
}

}  // namespace runner
