#include "corrector.hpp"

#include <algorithm>

#include "json.hpp"
#include "unicode.hpp"

namespace tc {
namespace {

std::string folder_of(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

Tokenizer load_tokenizer(const std::string& metadata_path, const Json& meta) {
    std::string file = "tokenizer.json";
    if (const Json* t = meta.get("tokenizer"); t && t->get("file"))
        file = t->get("file")->as_string("tokenizer.file");
    if (file.empty() || file.find('/') != std::string::npos)
        throw CorrectorError(metadata_path + ": tokenizer.file must be a plain file name beside it, got '" + file + "'");
    return Tokenizer::from_file(folder_of(metadata_path) + "/" + file);
}

Json load_meta(const std::string& path) {
    try {
        Json j = read_json_file(path);
        if (j.kind != Json::Object) throw CorrectorError(path + ": the metadata must be a JSON object");
        return j;
    } catch (const JsonError& e) {
        throw CorrectorError(std::string("metadata ") + e.what());
    }
}

}  // namespace

std::string py_strip(const std::string& utf8) {
    Text t;
    if (!utf8_decode(utf8, t)) return utf8;
    return utf8_encode(uni::py_strip(t));
}

Corrector::Corrector(const std::string& metadata_path, const std::string& english_words_path, GuardConfig cfg)
    : tok_(load_tokenizer(metadata_path, load_meta(metadata_path))), guard_(english_words_path, cfg) {
    Json meta = load_meta(metadata_path);
    const Json* prompt = meta.get("prompt");
    const Json* fmt = prompt ? prompt->get("prompt_format") : nullptr;
    if (!fmt || fmt->kind != Json::String || fmt->str.find("{text}") == std::string::npos)
        throw CorrectorError(metadata_path + ": prompt.prompt_format must be a string holding {text} "
                             "(core.prompt.template_info; re-export an older .pte)");
    format_ = fmt->str;
    const Json* eos = prompt->get("eos_ids");
    if (!eos || eos->kind != Json::Array || eos->arr.empty())
        throw CorrectorError(metadata_path + ": prompt.eos_ids must be a non-empty list of token ids");
    for (const Json& e : eos->arr) stops_.push_back(int32_t(e.as_int("prompt.eos_ids[]")));
}

std::string Corrector::prompt(const std::string& text) const {
    // the last {text}: core.prompt looks the text up with rfind too, and an instruction
    // could hold the same letters earlier
    size_t at = format_.rfind("{text}");
    return format_.substr(0, at) + text + format_.substr(at + 6);
}

std::vector<int32_t> Corrector::prompt_ids(const std::string& text) const { return tok_.encode(prompt(text)); }

std::string Corrector::decode_answer(const std::vector<int32_t>& ids) const {
    auto cut = std::find_if(ids.begin(), ids.end(),
                            [&](int32_t t) { return std::find(stops_.begin(), stops_.end(), t) != stops_.end(); });
    return py_strip(tok_.decode(std::vector<int32_t>(ids.begin(), cut), true));
}

Correction Corrector::correct(const std::string& text, const Generate& generate) const {
    Correction c;
    c.raw = decode_answer(generate(prompt_ids(text)));
    c.guarded = guard(text, c.raw);
    return c;
}

}  // namespace tc
