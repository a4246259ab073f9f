// typo_runner: load a .pte once, run every request of a JSON Lines file through greedy
// decoding (plain or copy-speculative), write results JSON Lines and a summary JSON.
// Protocol: docs/runner_protocol.md (the one specification). Exit codes: 0 ok (per-request
// errors are reported in the results), 2 bad command line, 3 fatal (model or files).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <iostream>
#include <memory>

#include "decode.h"
#include "json.h"
#include "model.h"
#include "options.h"
#include "protocol.h"
#include "text_mode.h"

namespace executorch::extension::threadpool {
// The wheel ships libexecutorch_threadpool without this header; these members are all we use.
class ThreadPool {
 public:
  size_t get_thread_count() const;
  bool _unsafe_reset_threadpool(uint32_t num_threads);
};
ThreadPool* get_threadpool();
}  // namespace executorch::extension::threadpool

namespace tp = executorch::extension::threadpool;
using json::Value;
using namespace runner;

namespace {

double now_ms() {  // steady clock since its epoch: the observer's time base, monotonic
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double r3(double ms) { return static_cast<double>(static_cast<int64_t>(ms * 1000 + 0.5)) / 1000; }

long peak_rss_kb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;  // kilobytes on Linux and Android
}

// ExecuTorch's llm runners print one "PyTorchObserver {json}" line per generation with these
// fields; tools derive load time, prompt rate, decode rate and TTFT from them.
struct Observer {
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double load_start = 0, load_end = 0, start = 0, prompt_end = 0, first_token = 0, end = 0;
  std::string line() const {
    Value v = Value::object();
    v.set("prompt_tokens", Value(prompt_tokens));
    v.set("generated_tokens", Value(generated_tokens));
    v.set("model_load_start_ms", r3(load_start));
    v.set("model_load_end_ms", r3(load_end));
    v.set("inference_start_ms", r3(start));
    v.set("inference_end_ms", r3(end));
    v.set("prompt_eval_end_ms", r3(prompt_end));
    v.set("first_token_ms", r3(first_token));
    v.set("aggregate_sampling_time_ms", 0.0);
    v.set("SCALING_FACTOR_UNITS_PER_SECOND", Value(1000));
    return "PyTorchObserver " + v.dump();
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// One request's decoding settings: the runner's options plus the request's source span.
DecodeOptions decode_options(const Model& model, const Request& req, const Options& o) {
  DecodeOptions d{req.max_new_tokens, o.timeout_ms, o.draft_len};
  d.source_begin = req.source_begin, d.source_end = req.source_end, d.prefill_draft = o.prefill_draft;
  d.max_ngram = o.max_ngram;
  // Fixed before the first repetition, so every repetition reuses what the previous request left.
  d.reuse_limit = o.prefix_cache ? model.reusable(req.prompt_ids) : -1;
  return d;
}

// Runs one request `reps` times: the first run's tokens, the median of each timing.
DecodeResult run_request(Model& model, const Request& req, const Options& o) {
  const DecodeOptions d = decode_options(model, req, o);
  std::vector<DecodeResult> runs;
  for (int r = 0; r < o.reps; ++r) {
    runs.push_back(generate(model, req.prompt_ids, d));
    if (!runs.back().error.empty()) return runs.back();
    if (runs.back().output_ids != runs.front().output_ids) {
      runs.front().error = "repetitions produced different tokens";
      return runs.front();
    }
  }
  DecodeResult out = runs.front();
  auto med = [&](double DecodeResult::*f) {
    std::vector<double> xs;
    for (auto& x : runs) xs.push_back(x.*f);
    return median(xs);
  };
  out.prefill_ms = med(&DecodeResult::prefill_ms);
  out.decode_ms = med(&DecodeResult::decode_ms);
  out.ttft_ms = med(&DecodeResult::ttft_ms);
  out.total_ms = med(&DecodeResult::total_ms);
  return out;
}

}  // namespace

namespace {

struct Totals {
  int64_t requests = 0, errors = 0, prompt_tokens = 0, generated = 0, forwards = 0, drafted = 0, accepted = 0;
  int64_t reused = 0;
  double prefill_ms = 0, decode_ms = 0, ttft_ms = 0, total_ms = 0;
  int64_t decode_tokens = 0;  // generated tokens after the first (those the decode time paid for)
  void add(const DecodeResult& r, int64_t prompt) {
    prompt_tokens += prompt, generated += static_cast<int64_t>(r.output_ids.size());
    forwards += r.forwards, drafted += r.drafted_tokens, accepted += r.accepted_tokens, reused += r.reused_tokens;
    prefill_ms += r.prefill_ms, decode_ms += r.decode_ms, ttft_ms += r.ttft_ms, total_ms += r.total_ms;
    decode_tokens += std::max<int64_t>(0, static_cast<int64_t>(r.output_ids.size()) - 1);
  }
};

// All requests, one result line each; per-request observer lines go to stdout.
std::string run_all(Model& model, const std::vector<Request>& reqs, const Options& o, Totals& t, Observer& obs) {
  for (const Request& r : reqs)  // warm-up: caches, thread pool and allocator settle before timing
    if (r.error.empty()) {
      for (int w = 0; w < o.warmup; ++w) generate(model, r.prompt_ids, decode_options(model, r, o));
      model.forget_prompt();  // the first measured request starts cold, as after loading
      break;
    }
  std::string lines;
  obs.start = now_ms();
  for (const Request& r : reqs) {
    ++t.requests;
    if (!r.error.empty()) {
      ++t.errors;
      lines += error_json(r, r.error).dump() + "\n";
      continue;
    }
    const double start = now_ms();
    DecodeResult res = run_request(model, r, o);
    t.errors += !res.error.empty();
    t.add(res, static_cast<int64_t>(r.prompt_ids.size()));
    lines += result_json(r, res, o.reps, o.draft_len > 0).dump() + "\n";
    Observer one = obs;
    one.prompt_tokens = static_cast<int64_t>(r.prompt_ids.size()), one.generated_tokens = res.output_ids.size();
    one.start = start, one.prompt_end = start + res.prefill_ms, one.first_token = start + res.ttft_ms;
    one.end = start + res.total_ms;
    std::cout << one.line() << "\n";
  }
  // The summary's observer line puts the batch on one timeline: the requests back to back.
  obs.prompt_tokens = t.prompt_tokens, obs.generated_tokens = t.generated;
  obs.prompt_end = obs.start + t.prefill_ms;
  obs.first_token = obs.start + (t.requests - t.errors > 0 ? t.ttft_ms / (t.requests - t.errors) : 0);
  obs.end = obs.start + t.total_ms;
  return lines;
}

Value summary_json(const Options& o, const Model* model, const Totals& t, const Observer& obs, double wall_ms) {
  Value v = Value::object();
  v.set("model", o.model);
  v.set("model_load_ms", r3(obs.load_end - obs.load_start));
  v.set("peak_rss_kb", Value(static_cast<int64_t>(peak_rss_kb())));
  v.set("threads", Value(static_cast<int64_t>(tp::get_threadpool() ? tp::get_threadpool()->get_thread_count() : 1)));
  v.set("speculate", o.draft_len > 0 ? "copy" : "none");
  v.set("draft_len", Value(static_cast<int64_t>(o.draft_len)));
  v.set("prefill_draft", Value(static_cast<int64_t>(o.draft_len > 0 ? o.prefill_draft : 0)));
  v.set("max_ngram", Value(static_cast<int64_t>(o.draft_len > 0 ? o.max_ngram : 0)));
  v.set("prefix_cache", Value(o.prefix_cache));
  v.set("warmup", Value(static_cast<int64_t>(o.warmup)));
  v.set("reps", Value(static_cast<int64_t>(o.reps)));
  if (model) {
    v.set("max_seq_len", Value(model->max_seq_len()));
    v.set("vocab_size", Value(model->vocab_size()));
    Value eos = Value::array();
    for (int64_t e : model->eos_ids()) eos.push(Value(e));
    v.set("eos_ids", eos);
  }
  v.set("requests", Value(t.requests));
  v.set("errors", Value(t.errors));
  v.set("prompt_tokens", Value(t.prompt_tokens));
  v.set("generated_tokens", Value(t.generated));
  v.set("forwards", Value(t.forwards));
  v.set("reused_tokens", Value(t.reused));
  v.set("prefill_ms", r3(t.prefill_ms));
  v.set("decode_ms", r3(t.decode_ms));
  v.set("decode_ms_per_token", t.decode_tokens ? r3(t.decode_ms / t.decode_tokens) : 0.0);
  v.set("sentence_ms_mean", t.requests > t.errors ? r3(t.total_ms / (t.requests - t.errors)) : 0.0);
  if (o.draft_len > 0) {
    v.set("drafted_tokens", Value(t.drafted));
    v.set("accepted_tokens", Value(t.accepted));
    v.set("acceptance_rate", t.drafted ? static_cast<double>(t.accepted) / t.drafted : 0.0);
  }
  v.set("wall_ms", r3(wall_ms));
  v.set("observer", obs.line());
  return v;
}

// A fatal error still leaves a summary (and, when the requests are readable, one error
// result per request) so the caller sees what happened without parsing stderr.
int fatal(const Options& o, const std::string& msg, const Observer& obs, double t0) {
  std::cerr << "typo_runner: fatal: " << msg << "\n";
  try {
    std::string lines;
    for (const Request& r : read_requests(o.requests, nullptr)) lines += error_json(r, r.error.empty() ? msg : r.error).dump() + "\n";
    write_atomic(o.results, lines);
  } catch (const std::exception&) {  // unreadable requests: the summary below says why
  }
  try {
    Value s = summary_json(o, nullptr, Totals{}, obs, now_ms() - t0);
    s.set("error", msg);
    write_atomic(o.summary, s.dump() + "\n");
  } catch (const std::exception& e) {
    std::cerr << "typo_runner: " << e.what() << "\n";
  }
  return 3;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_args(argc, argv);
  } catch (const UsageError& e) {
    if (*e.what()) std::cerr << "typo_runner: " << e.what() << "\n";
    (*e.what() ? std::cerr : std::cout) << usage();  // --help: the usage and defaults on stdout
    return *e.what() ? 2 : 0;
  }
  const double t0 = now_ms();
  if (o.threads > 0 && tp::get_threadpool()) tp::get_threadpool()->_unsafe_reset_threadpool(o.threads);
  Observer obs;
  std::unique_ptr<Model> model;
  obs.load_start = now_ms();
  try {
    check_requests_file(o.requests);
    // a named pipe would block the open below until a writer came; a folder or a device is no program
    const std::string why = not_a_regular_file(o.model);
    if (!why.empty() && why.rfind("a ", 0) == 0) throw std::runtime_error("--model " + o.model + " is " + why + ", not a .pte file");
  } catch (const std::exception& e) {
    obs.load_end = obs.load_start;  // no model was loaded
    return fatal(o, e.what(), obs, t0);
  }
  try {
    model = std::make_unique<Model>(o.model);
  } catch (const std::exception& e) {
    obs.load_end = now_ms();
    return fatal(o, e.what(), obs, t0);
  }
  obs.load_end = now_ms();
  std::unique_ptr<TextMode> text;
  try {
    if (!o.text_meta.empty()) set_text_mode((text = std::make_unique<TextMode>(o.text_meta, o.english_words)).get());
  } catch (const std::exception& e) {
    return fatal(o, e.what(), obs, t0);
  }
  try {
    std::vector<Request> reqs = read_requests(o.requests, model.get());
    Totals t;
    std::string lines = run_all(*model, reqs, o, t, obs);
    write_atomic(o.results, lines);
    write_atomic(o.summary, summary_json(o, model.get(), t, obs, now_ms() - t0).dump() + "\n");
#ifdef TYPO_ETDUMP
    // ETDump build: every forward call of the run (warm-up included), for the Inspector.
    const char* etdump = std::getenv("TYPO_ETDUMP");
    const std::string etdump_path = etdump && *etdump ? etdump : o.summary + ".etdp";
    const std::string etdump_error = model->write_etdump(etdump_path);
    if (!etdump_error.empty()) throw std::runtime_error("ETDump: " + etdump_error);
    std::cerr << "typo_runner: ETDump written to " << etdump_path << "\n";
#endif
    std::cout << obs.line() << std::endl;
    std::cerr << "typo_runner: " << t.requests << " requests, " << t.errors << " errors\n";
  } catch (const std::exception& e) {
    return fatal(o, e.what(), obs, t0);
  }
  return 0;
}
