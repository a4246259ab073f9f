// Encode and decode exactly as HF `tokenizers` does with the tokenizer.json the export
// writes (add_special_tokens=False; decode with skip_special_tokens). Two families:
//   - GPT-2 style byte-level BPE (SmolLM2, the built-in tiny model): ByteLevel pre-tokenizer
//     with its regex, written out by hand over generated Unicode tables (no std::regex:
//     it knows no Unicode categories);
//   - SentencePiece-style BPE (Gemma 3): Replace ' ' -> '▁' normalizer, byte fallback.
// Anything else in a tokenizer.json is refused at load with a TokenizerError naming it.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tc {

struct TokenizerError : std::runtime_error { using std::runtime_error::runtime_error; };

class Tokenizer {
public:
    static Tokenizer from_file(const std::string& path);

    // Token ids of UTF-8 text; throws TokenizerError on invalid UTF-8.
    std::vector<int32_t> encode(std::string_view text) const;
    // Text of ids (unknown ids are skipped, as HF does); special tokens skipped when asked.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special) const;
    // Id of a token or added token; -1 when absent.
    int32_t token_id(std::string_view token) const;
    size_t vocab_size() const { return id_to_token_.size(); }

private:
    struct Added { std::string content; int32_t id; bool special; };
    struct Merge { int32_t rank; int32_t new_id; };
    enum class Pre { None, ByteLevel, SplitMergedWithPrevious };

    std::unordered_map<std::string, int32_t> vocab_;
    std::vector<std::string> id_to_token_;
    std::vector<bool> special_;
    std::unordered_map<uint64_t, Merge> merges_;
    std::vector<Added> added_;
    std::vector<std::vector<size_t>> added_by_byte_;  // first byte -> added_ indices, longest first
    std::vector<std::pair<std::string, std::string>> replaces_;  // normalizer Replace(String)
    Pre pre_ = Pre::None;
    std::string split_pattern_;
    bool byte_level_decoder_ = false;
    std::vector<std::pair<std::string, std::string>> decode_replaces_;
    bool decode_byte_fallback_ = false;
    bool byte_fallback_ = false;
    bool fuse_unk_ = false;
    int32_t unk_id_ = -1;
    std::string subword_prefix_, word_suffix_;

    void load_model(const struct Json& model);
    void load_added(const struct Json& added);
    void load_normalizer(const struct Json* norm);
    void load_pre_tokenizer(const struct Json* pre);
    void load_decoder(const struct Json* dec);

    void encode_piece(const std::string& piece, std::vector<int32_t>& out) const;
    void bpe(const std::string& word, std::vector<int32_t>& out) const;
    std::vector<std::string> pre_tokenize(const std::string& normalized) const;
};

}  // namespace tc
