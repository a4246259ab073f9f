#include "text_mode.h"

#include <chrono>
#include <stdexcept>

#include "typo_corrector.h"

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

}  // namespace

void set_text_mode(const TextMode* t) { g_text_mode = t; }
const TextMode* text_mode() { return g_text_mode; }

TextMode::TextMode(const std::string& metadata_json, const std::string& english_words) {
  char* err = nullptr;
  tc_status st = tc_open(metadata_json.c_str(), english_words.c_str(), &c_, &err);
  if (st != TC_OK) throw failure("text mode (--text-meta, --english-words)", st, err);
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
  v.set("raw_text", std::string(raw));
  v.set("guarded_text", std::string(guarded));
  tc_free(raw);
  tc_free(guarded);
  v.set("tokenize_ms", r3(tokenize_ms));
  v.set("guard_ms", r3(guard_ms));
  v.set("end_to_end_ms", r3(tokenize_ms + res.total_ms + guard_ms));
}

}  // namespace runner
