// The runner side of the protocol specified in docs/runner_protocol.md (the host side:
// device_bench/protocol.py). Requests in, results and summary out.
#include "protocol.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "text_mode.h"

using json::Value;

namespace runner {

static void check_against_model(const Request& r, const Model& model) {
  for (int64_t t : r.prompt_ids)
    if (t < 0 || t >= model.vocab_size())
      throw std::runtime_error("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                               std::to_string(model.vocab_size()) + ")");
  const auto n = static_cast<int64_t>(r.prompt_ids.size());
  const int64_t limit = std::min(model.max_seq_len() - 1, model.max_tokens_per_call());
  if (n > limit)
    throw std::runtime_error("prompt has " + std::to_string(n) + " tokens; the model takes at most " +
                             std::to_string(limit) + " (max_seq_len " + std::to_string(model.max_seq_len()) + ")");
}

static Request parse_request(const std::string& text, int64_t line, const Model* model) {
  Request r;
  r.line = line;
  try {
    Value v = json::parse(text);
    if (!v.is_object()) throw std::runtime_error("a request must be a JSON object");
    if (const Value* id = v.find("id")) r.id = *id;
    const Value* ids = v.find("prompt_ids");
    if (const Value* text = v.find("text")) {  // text mode (text_mode.h): the library makes the ids
      if (ids) throw std::runtime_error("give 'text' or 'prompt_ids', not both");
      if (!text->is_string()) throw std::runtime_error("'text' must be a string");
      if (!text_mode()) throw std::runtime_error("'text' needs text mode: --text-meta M.json --english-words FILE");
      r.text = text->as_string(), r.has_text = true;
      r.prompt_ids = text_mode()->prompt_ids(r.text, r.tokenize_ms);
      ids = nullptr;
    } else if (!ids || !ids->is_array() || ids->items().empty()) {
      throw std::runtime_error("'prompt_ids' must be a non-empty array of token ids");
    }
    for (const Value& t : ids ? ids->items() : std::vector<Value>{}) {
      if (!t.is_int()) throw std::runtime_error("'prompt_ids' holds a non-integer: " + t.dump());
      r.prompt_ids.push_back(t.as_int());
    }
    const Value* mnt = v.find("max_new_tokens");
    if (mnt && (!mnt->is_int() || mnt->as_int() < 1))
      throw std::runtime_error("'max_new_tokens' must be a positive integer");
    r.max_new_tokens = mnt ? mnt->as_int() : (int64_t{1} << 30);  // absent: until EOS or a full cache
    if (const Value* span = v.find("source_span")) {
      // [begin, end): where the text to correct sits in prompt_ids; only guides copy drafts.
      const auto n = static_cast<int64_t>(r.prompt_ids.size());
      if (!span->is_array() || span->items().size() != 2 || !span->items()[0].is_int() || !span->items()[1].is_int())
        throw std::runtime_error("'source_span' must be [begin, end], two token indices");
      r.source_begin = span->items()[0].as_int(), r.source_end = span->items()[1].as_int();
      if (r.source_begin < 0 || r.source_begin >= r.source_end || r.source_end > n)
        throw std::runtime_error("'source_span' [" + std::to_string(r.source_begin) + ", " + std::to_string(r.source_end) +
                                 "] must satisfy 0 <= begin < end <= " + std::to_string(n) + " (the prompt's length)");
    }
    if (model) check_against_model(r, *model);
  } catch (const std::exception& e) {
    r.error = "requests line " + std::to_string(line) + ": " + e.what();
  }
  return r;
}

std::string not_a_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::strerror(errno);
  if (S_ISREG(st.st_mode)) return "";
  if (S_ISDIR(st.st_mode)) return "a folder";
  if (S_ISFIFO(st.st_mode)) return "a named pipe";
  if (S_ISSOCK(st.st_mode)) return "a socket";
  if (S_ISCHR(st.st_mode)) return "a character device";
  if (S_ISBLK(st.st_mode)) return "a block device";
  return "not a regular file";
}

void check_requests_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw std::runtime_error("cannot read the requests file " + path + ": " + std::strerror(errno));
  // A folder opens like a file and reads as empty: it would pass as "0 requests, 0 errors"; a named
  // pipe blocks the open until a writer comes; /dev/zero never ends a line.
  if (!S_ISREG(st.st_mode))
    throw std::runtime_error("--requests " + path + " is " + not_a_regular_file(path) + ", not a requests file");
}

std::vector<Request> read_requests(const std::string& path, const Model* model) {
  check_requests_file(path);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the requests file " + path);
  std::vector<Request> out;
  std::vector<std::pair<std::string, int64_t>> ids;  // an id's JSON text -> the line that gave it first
  std::string text;
  for (int64_t line = 1; std::getline(in, text); ++line) {
    if (line == 1 && text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);  // a UTF-8 byte-order mark
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are allowed
    if (line == 1 && (text.rfind("\xFF\xFE", 0) == 0 || text.rfind("\xFE\xFF", 0) == 0)) {
      Request r;
      r.line = line;
      r.error = "requests line 1: the file is UTF-16 (a byte-order mark FF FE): write it as UTF-8";
      out.push_back(r);
      continue;
    }
    Request r = parse_request(text, line, model);
    if (r.error.empty() && !r.id.is_null()) {  // results are matched to requests by id
      const std::string key = r.id.dump();
      auto seen = std::find_if(ids.begin(), ids.end(), [&](const auto& p) { return p.first == key; });
      if (seen != ids.end())
        r.error = "requests line " + std::to_string(line) + ": id " + key + " is the id of line " +
                  std::to_string(seen->second) + " too: give every request its own id";
      else
        ids.emplace_back(key, line);
    }
    out.push_back(r);
  }
  if (in.bad()) throw std::runtime_error("reading the requests file " + path + " failed");
  return out;
}

static double round3(double ms) { return static_cast<double>(static_cast<int64_t>(ms * 1000 + 0.5)) / 1000; }

Value result_json(const Request& req, const DecodeResult& res, int reps, bool speculating) {
  Value v = Value::object();
  v.set("id", req.id);
  Value ids = Value::array();
  for (int64_t t : res.output_ids) ids.push(Value(t));
  v.set("output_ids", ids);
  v.set("prefill_ms", round3(res.prefill_ms));
  v.set("decode_ms", round3(res.decode_ms));
  v.set("ttft_ms", round3(res.ttft_ms));
  v.set("total_ms", round3(res.total_ms));
  v.set("new_tokens", Value(static_cast<int64_t>(res.output_ids.size())));
  v.set("prompt_tokens", Value(static_cast<int64_t>(req.prompt_ids.size())));
  v.set("forwards", Value(res.forwards));
  v.set("reused_tokens", Value(res.reused_tokens));
  v.set("reps", Value(static_cast<int64_t>(reps)));
  if (speculating) {
    v.set("drafted_tokens", Value(res.drafted_tokens));
    v.set("accepted_tokens", Value(res.accepted_tokens));
    v.set("acceptance_rate", res.drafted_tokens ? static_cast<double>(res.accepted_tokens) / res.drafted_tokens : 0.0);
  }
  if (req.has_text && res.error.empty()) text_mode()->annotate(req.text, req.tokenize_ms, res, v);
  if (!res.error.empty()) v.set("error", res.error);
  return v;
}

Value error_json(const Request& req, const std::string& error) {
  Value v = Value::object();
  v.set("id", req.id);
  v.set("output_ids", Value::array());
  v.set("new_tokens", Value(int64_t{0}));
  v.set("line", Value(req.line));
  v.set("error", error);
  return v;
}

void write_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp);
    out << text;
    out.flush();
    if (!out) throw std::runtime_error("short write to " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

}  // namespace runner
