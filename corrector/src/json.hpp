// A small JSON reader for tokenizer.json and the .pte metadata: enough of RFC 8259 for
// files other tools wrote, with errors that say where. No dependency to vendor or install
// (the Android build gets the same sources).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tc {

struct JsonError : std::runtime_error { using std::runtime_error::runtime_error; };

struct Json {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    bool b = false;
    double num = 0;
    bool is_int = false;
    int64_t i = 0;
    std::string str;
    std::vector<Json> arr;
    std::vector<std::pair<std::string, Json>> obj;

    const Json* get(std::string_view key) const;  // nullptr when absent or not an object
    bool is_null() const { return kind == Null; }
    const std::string& as_string(const char* what) const;
    int64_t as_int(const char* what) const;
};

Json parse_json(std::string_view text);
Json read_json_file(const std::string& path);

}  // namespace tc
