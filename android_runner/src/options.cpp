#include "options.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

namespace runner {

std::string usage() {
  return "usage: typo_runner --model M.pte --requests REQ.jsonl --results RES.jsonl --summary SUM.json\n"
         "                   [--threads N] [--warmup N] [--reps N] [--timeout-ms N]\n"
         "                   [--speculate none|copy] [--draft-len K] [--prefill-draft N] [--max-ngram N]\n"
         "                   [--prefix-cache on|off] [--text-meta M.json --english-words FILE\n"
         "                   [--dictionary FREQ.txt [--misspellings LIST.dat] [--dict-context typed|masked|both]]]\n"
         "copy-speculation defaults (core/decoding_defaults.json): --draft-len " +
         std::to_string(kDefaultDraftLen) + " --prefill-draft " + std::to_string(kDefaultPrefillDraft) +
         " --max-ngram " + std::to_string(kDefaultMaxNgram) + "\n";
}

static long to_long(const std::string& flag, const std::string& v, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  long x = std::strtol(v.c_str(), &end, 10);
  const bool digits = !v.empty() && (std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '-');  // not " 4", "+4"
  if (!digits || *end || errno || x < lo || x > hi)
    throw UsageError(flag + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], got '" + v + "'");
  return x;
}

namespace {

// Which file a path names: (device, inode) when it exists, so symlinks and hard links to one
// file compare equal; a path that does not exist yet is known by its absolute spelling with
// the folder resolved, so "out.json" and "./out.json" are one new file too.
struct FileId {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  std::string path;
};

FileId file_id(const std::string& path) {
  FileId id;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    id.exists = true, id.dev = st.st_dev, id.ino = st.st_ino;
    return id;
  }
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  char real[PATH_MAX];
  id.path = ::realpath(dir.c_str(), real) ? std::string(real) + "/" + path.substr(slash + 1) : path;
  return id;
}

bool same_file(const std::string& a, const std::string& b) {
  const FileId x = file_id(a), y = file_id(b);
  if (x.exists != y.exists) return false;
  return x.exists ? (x.dev == y.dev && x.ino == y.ino) : x.path == y.path;
}

struct Role {
  const char* flag;
  const std::string& path;
};

void refuse_same(const Role& out, const std::string& written, const Role& other) {
  if (!same_file(written, other.path)) return;
  const std::string what = written == out.path ? std::string(out.flag) + " " + out.path
                                               : std::string(out.flag) + "'s temporary file " + written;
  throw UsageError(what + " is the same file as " + other.flag + " " + other.path +
                   ": the runner never writes over its inputs or one output over the other");
}

}  // namespace

// The outputs are written after every request has run: a folder in their place, or a folder that does
// not exist, would fail only then (and leave OUT.tmp behind), so both are usage errors now.
static void check_outputs(const Options& o) {
  for (const Role& out : {Role{"--results", o.results}, Role{"--summary", o.summary}}) {
    struct stat st {};
    if (::stat(out.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      throw UsageError(std::string(out.flag) + " " + out.path + " is a folder, not a file: give a file path");
    const size_t slash = out.path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : out.path.substr(0, slash));
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw UsageError(std::string(out.flag) + " " + out.path + ": the folder " + dir + " does not exist");
  }
}

// The runner writes each output to OUT.tmp and renames it over OUT (write_atomic): neither
// may be an input or the other output, or a run would replace the model or the requests.
void check_file_roles(const Options& o) {
  const Role inputs[] = {{"--model", o.model}, {"--requests", o.requests}};
  const Role outputs[] = {{"--results", o.results}, {"--summary", o.summary}};
  for (const Role& out : outputs) {
    for (const std::string& written : {out.path, out.path + ".tmp"}) {
      for (const Role& in : inputs) refuse_same(out, written, in);
      for (const Role& other : outputs)
        if (&other != &out) refuse_same(out, written, other);
    }
  }
}

static Options& last_parsed() {
  static Options o;
  return o;
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
    else if (a == "--text-meta") o.text_meta = v;
    else if (a == "--english-words") o.english_words = v;
    else if (a == "--dictionary") o.dictionary = v;
    else if (a == "--misspellings") o.misspellings = v;
    else if (a == "--dict-context") o.dict_context = v;
    else throw UsageError("unknown option " + a);
  }
  if (o.model.empty() || o.requests.empty() || o.results.empty() || o.summary.empty())
    throw UsageError("--model, --requests, --results and --summary are required");
  if (o.text_meta.empty() != o.english_words.empty())
    throw UsageError("text mode needs both --text-meta M.json and --english-words FILE");
  if (!o.dictionary.empty() && o.text_meta.empty()) throw UsageError("--dictionary needs text mode (--text-meta, --english-words)");
  if (!o.misspellings.empty() && o.dictionary.empty()) throw UsageError("--misspellings needs --dictionary");
  if (!o.dict_context.empty() && o.dictionary.empty()) throw UsageError("--dict-context needs --dictionary");
  if (!o.dict_context.empty() && o.dict_context != "typed" && o.dict_context != "masked" && o.dict_context != "both")
    throw UsageError("--dict-context must be typed, masked or both, got " + o.dict_context);
  if (speculate != "none" && speculate != "copy") throw UsageError("--speculate must be none or copy, got " + speculate);
  if (speculate == "none" && draft > 0) throw UsageError("--draft-len needs --speculate copy");
  if (speculate == "none" && prefill_draft >= 0) throw UsageError("--prefill-draft needs --speculate copy");
  if (speculate == "none" && max_ngram >= 0) throw UsageError("--max-ngram needs --speculate copy");
  if (prefix_cache != "on" && prefix_cache != "off") throw UsageError("--prefix-cache must be on or off, got " + prefix_cache);
  if (speculate == "copy") o.draft_len = draft > 0 ? static_cast<int>(draft) : kDefaultDraftLen;
  if (prefill_draft >= 0) o.prefill_draft = static_cast<int>(prefill_draft);
  if (max_ngram >= 0) o.max_ngram = static_cast<int>(max_ngram);
  o.prefix_cache = prefix_cache == "on";
  check_file_roles(o);
  check_outputs(o);
  last_parsed() = o;
  return o;
}

const Options& parsed_options() { return last_parsed(); }

}  // namespace runner
