#include "options.h"

#include <cerrno>
#include <cstdlib>
#include <vector>

namespace runner {

std::string usage() {
  return "usage: typo_runner --model M.pte --requests REQ.jsonl --results RES.jsonl --summary SUM.json\n"
         "                   [--threads N] [--warmup N] [--reps N] [--timeout-ms N]\n"
         "                   [--speculate none|copy] [--draft-len K] [--prefill-draft N] [--max-ngram N]\n"
         "                   [--prefix-cache on|off]\n"
         "copy-speculation defaults (core/decoding_defaults.json): --draft-len " +
         std::to_string(kDefaultDraftLen) + " --prefill-draft " + std::to_string(kDefaultPrefillDraft) +
         " --max-ngram " + std::to_string(kDefaultMaxNgram) + "\n";
}

static long to_long(const std::string& flag, const std::string& v, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno || x < lo || x > hi)
    throw UsageError(flag + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], got '" + v + "'");
  return x;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::string speculate = "none";
  long draft = -1, prefill_draft = -1, max_ngram = -1;  // -1: not given
  std::string prefix_cache = "on";
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") throw UsageError("");
    if (i + 1 >= args.size()) throw UsageError("missing value after " + a);
    const std::string& v = args[++i];
    if (a == "--model") o.model = v;
    else if (a == "--requests") o.requests = v;
    else if (a == "--results") o.results = v;
    else if (a == "--summary") o.summary = v;
    else if (a == "--threads") o.threads = static_cast<int>(to_long(a, v, 0, 256));
    else if (a == "--warmup") o.warmup = static_cast<int>(to_long(a, v, 0, 1000));
    else if (a == "--reps") o.reps = static_cast<int>(to_long(a, v, 1, 1000));
    else if (a == "--timeout-ms") o.timeout_ms = static_cast<double>(to_long(a, v, 0, 1L << 30));
    else if (a == "--draft-len") draft = to_long(a, v, 1, 64);
    else if (a == "--speculate") speculate = v;
    else if (a == "--prefill-draft") prefill_draft = to_long(a, v, 0, 4096);
    else if (a == "--max-ngram") max_ngram = to_long(a, v, 1, 64);
    else if (a == "--prefix-cache") prefix_cache = v;
    else throw UsageError("unknown option " + a);
  }
  if (o.model.empty() || o.requests.empty() || o.results.empty() || o.summary.empty())
    throw UsageError("--model, --requests, --results and --summary are required");
  if (speculate != "none" && speculate != "copy") throw UsageError("--speculate must be none or copy, got " + speculate);
  if (speculate == "none" && draft > 0) throw UsageError("--draft-len needs --speculate copy");
  if (speculate == "none" && prefill_draft >= 0) throw UsageError("--prefill-draft needs --speculate copy");
  if (speculate == "none" && max_ngram >= 0) throw UsageError("--max-ngram needs --speculate copy");
  if (prefix_cache != "on" && prefix_cache != "off") throw UsageError("--prefix-cache must be on or off, got " + prefix_cache);
  if (speculate == "copy") o.draft_len = draft > 0 ? static_cast<int>(draft) : kDefaultDraftLen;
  if (prefill_draft >= 0) o.prefill_draft = static_cast<int>(prefill_draft);
  if (max_ngram >= 0) o.max_ngram = static_cast<int>(max_ngram);
  o.prefix_cache = prefix_cache == "on";
  return o;
}

}  // namespace runner
