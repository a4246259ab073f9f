// Text in, guarded text out, around a model the caller runs: the prompt from the .pte
// metadata (core.prompt.template_info's prompt_format), token ids by the exported
// tokenizer.json, the answer decoded as core.prompt.decode_answer does, then the guard.
// The model itself stays with the caller (typo_runner's decode loop, an app's ExecuTorch
// Module), reached through a callback, so this library has no ExecuTorch dependency.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "guard.hpp"
#include "tokenizer.hpp"

namespace tc {

struct CorrectorError : std::runtime_error { using std::runtime_error::runtime_error; };

// prompt ids -> generated ids (stopping at a stop id or the token limit is the caller's job;
// ids after the first stop id are ignored anyway)
using Generate = std::function<std::vector<int32_t>(const std::vector<int32_t>& prompt_ids)>;

struct Correction { std::string raw, guarded; };

class Corrector {
public:
    // metadata: the JSON the export writes beside the .pte (prompt.prompt_format,
    // prompt.eos_ids, tokenizer.file); the tokenizer file is looked up beside it.
    Corrector(const std::string& metadata_path, const std::string& english_words_path, GuardConfig cfg = {});

    std::vector<int32_t> prompt_ids(const std::string& text) const;
    std::string prompt(const std::string& text) const;
    std::string decode_answer(const std::vector<int32_t>& ids) const;  // cut at a stop id, no specials, stripped
    std::string guard(const std::string& input, const std::string& raw) const { return guard_.guard(input, raw); }
    Correction correct(const std::string& text, const Generate& generate) const;

    const Tokenizer& tokenizer() const { return tok_; }
    const Guard& guard_object() const { return guard_; }
    const std::vector<int32_t>& stop_ids() const { return stops_; }

private:
    Tokenizer tok_;
    Guard guard_;
    std::string format_;
    std::vector<int32_t> stops_;
};

std::string py_strip(const std::string& utf8);  // str.strip(): Python's whitespace

}  // namespace tc
