// The runner's file protocol: request lines in, result lines and the summary out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "decode.h"
#include "json.h"
#include "model.h"

namespace runner {

struct Request {
  json::Value id;  // echoed back as given (string or number); null when the line did not parse
  int64_t line = 0;
  std::vector<int64_t> prompt_ids;
  int64_t max_new_tokens = 0;
  int64_t source_begin = -1, source_end = -1;  // optional "source_span": the text to correct
  std::string text;         // text mode: the request's "text" (prompt_ids built from it)
  bool has_text = false;
  double tokenize_ms = 0;
  std::string error;  // set when the request itself is invalid
};

// Every non-blank line becomes a Request; invalid ones carry their error. `model` may be null
// (then only the JSON shape is checked). Throws std::runtime_error if the file cannot be read.
std::vector<Request> read_requests(const std::string& path, const Model* model);
// Throws std::runtime_error naming the path when it is missing or a folder; main calls it
// before loading the model, so a wrong --requests fails in milliseconds.
void check_requests_file(const std::string& path);
// "" for a regular file (symlinks followed), else what it is ("a folder", "a named pipe", ...) or
// the system's reason it cannot be looked at.
std::string not_a_regular_file(const std::string& path);

// One result line: {"id","output_ids","prefill_ms","decode_ms","ttft_ms","new_tokens",...}.
json::Value result_json(const Request& req, const DecodeResult& res, int reps, bool speculating);
json::Value error_json(const Request& req, const std::string& error);

// Writes `text` to path.tmp then renames it over path, so readers never see half a file.
void write_atomic(const std::string& path, const std::string& text);

}  // namespace runner
