#include "tokenizer.hpp"

#include <algorithm>
#include <cstdio>
#include <queue>

#include "json.hpp"
#include "unicode.hpp"

namespace tc {
namespace {

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
const std::vector<std::string>& byte_to_unicode() {
    static const std::vector<std::string> table = [] {
        std::vector<std::string> t(256);
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            char32_t c = printable ? char32_t(b) : char32_t(256 + n++);
            utf8_append(t[b], c);
        }
        return t;
    }();
    return table;
}

const std::unordered_map<char32_t, uint8_t>& unicode_to_byte() {
    static const std::unordered_map<char32_t, uint8_t> table = [] {
        std::unordered_map<char32_t, uint8_t> t;
        for (int b = 0; b < 256; ++b) {
            Text cps;
            utf8_decode(byte_to_unicode()[b], cps);
            t[cps[0]] = uint8_t(b);
        }
        return t;
    }();
    return table;
}

// The GPT-2 pre-tokenizer regex, by hand, in Oniguruma's leftmost-first order:
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t gpt2_match(const Text& s, size_t p) {
    static const char32_t* kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
    size_t n = s.size();
    for (const char32_t* c : kContractions) {
        size_t len = std::char_traits<char32_t>::length(c);
        if (s.compare(p, len, c) == 0) return p + len;
    }
    auto other = [](char32_t c) { return !uni::white_space(c) && !uni::is_letter(c) && !uni::is_number(c); };
    using Pred = bool (*)(char32_t);
    const Pred classes[] = {uni::is_letter, uni::is_number, +other};
    for (Pred cls : classes) {
        size_t q = p;
        if (s[q] == U' ' && q + 1 < n && cls(s[q + 1])) ++q;  // the optional leading space
        if (!cls(s[q])) continue;
        while (q < n && cls(s[q])) ++q;
        return q;
    }
    if (!uni::white_space(s[p])) return p + 1;  // unreachable: every character is in a class
    size_t r = p;
    while (r < n && uni::white_space(s[r])) ++r;
    if (r == n || r - p == 1) return r;  // \s+(?!\S) at the end, else \s+ of one character
    return r - 1;                        // \s+(?!\S) gives the last space to the next word
}

bool byte_token(const std::string& tok, uint8_t& byte) {
    // "<0xAB>": SentencePiece byte fallback
    if (tok.size() != 6 || tok.compare(0, 3, "<0x") != 0 || tok[5] != '>') return false;
    unsigned v = 0;
    for (int k = 3; k < 5; ++k) {
        char c = tok[k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return false;
    }
    byte = uint8_t(v);
    return true;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    size_t at = 0, hit;
    while ((hit = s.find(from, at)) != std::string::npos) {
        out.append(s, at, hit - at);
        out += to;
        at = hit + from.size();
    }
    out.append(s, at, std::string::npos);
    return out;
}

std::string type_of(const Json& j) {
    const Json* t = j.get("type");
    return t && t->kind == Json::String ? t->str : std::string("?");
}

std::string string_pattern(const Json& j, const char* what) {
    const Json* pat = j.get("pattern");
    const Json* s = pat ? pat->get("String") : nullptr;
    if (!s || s->kind != Json::String)
        throw TokenizerError(std::string(what) + ": only a String pattern is supported (a Regex one is not)");
    return s->str;
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
    Tokenizer t;
    try {
        Json j = read_json_file(path);
        const Json* model = j.get("model");
        if (!model) throw TokenizerError("no model");
        t.load_model(*model);
        if (const Json* added = j.get("added_tokens")) t.load_added(*added);
        t.load_normalizer(j.get("normalizer"));
        t.load_pre_tokenizer(j.get("pre_tokenizer"));
        t.load_decoder(j.get("decoder"));
    } catch (const JsonError& e) {
        throw TokenizerError(std::string("tokenizer ") + e.what());
    } catch (const TokenizerError& e) {
        throw TokenizerError("tokenizer " + path + ": " + e.what());
    }
    return t;
}

void Tokenizer::load_model(const Json& model) {
    if (type_of(model) != "BPE") throw TokenizerError("model type " + type_of(model) + " is not supported (BPE is)");
    const Json* vocab = model.get("vocab");
    const Json* merges = model.get("merges");
    if (!vocab || vocab->kind != Json::Object || !merges || merges->kind != Json::Array)
        throw TokenizerError("model.vocab must be an object and model.merges a list");
    if (const Json* d = model.get("dropout"); d && !d->is_null())
        throw TokenizerError("BPE dropout is not supported (it is random)");
    for (const auto& kv : vocab->obj) {
        int64_t id = kv.second.as_int("a vocab id");
        if (id < 0 || id > (1 << 24)) throw TokenizerError("vocab id out of range: " + std::to_string(id));
        vocab_[kv.first] = int32_t(id);
        if (size_t(id) >= id_to_token_.size()) id_to_token_.resize(id + 1);
        id_to_token_[id] = kv.first;
    }
    int32_t rank = 0;
    for (const Json& m : merges->arr) {
        std::string a, b;
        if (m.kind == Json::Array && m.arr.size() == 2) {
            a = m.arr[0].as_string("a merge");
            b = m.arr[1].as_string("a merge");
        } else {
            const std::string& s = m.as_string("a merge");
            size_t sp = s.find(' ', 1);
            if (sp == std::string::npos) throw TokenizerError("merge without a space: " + s);
            a = s.substr(0, sp);
            b = s.substr(sp + 1);
        }
        auto ia = vocab_.find(a), ib = vocab_.find(b), inew = vocab_.find(a + b);
        if (ia == vocab_.end() || ib == vocab_.end() || inew == vocab_.end())
            throw TokenizerError("merge of tokens not in the vocab: " + a + " " + b);
        merges_.emplace(pair_key(ia->second, ib->second), Merge{rank++, inew->second});
    }
    auto str_opt = [&](const char* key) {
        const Json* v = model.get(key);
        return v && v->kind == Json::String ? v->str : std::string();
    };
    subword_prefix_ = str_opt("continuing_subword_prefix");
    word_suffix_ = str_opt("end_of_word_suffix");
    const Json* bf = model.get("byte_fallback");
    byte_fallback_ = bf && bf->kind == Json::Bool && bf->b;
    const Json* fu = model.get("fuse_unk");
    fuse_unk_ = fu && fu->kind == Json::Bool && fu->b;
    if (const Json* unk = model.get("unk_token"); unk && unk->kind == Json::String) {
        auto it = vocab_.find(unk->str);
        unk_id_ = it == vocab_.end() ? -1 : it->second;
    }
    if (const Json* im = model.get("ignore_merges"); im && im->kind == Json::Bool && im->b)
        throw TokenizerError("BPE ignore_merges is not supported");
    special_.assign(id_to_token_.size(), false);
}

void Tokenizer::load_added(const Json& added) {
    for (const Json& a : added.arr) {
        Added t{a.get("content") ? a.get("content")->as_string("added_tokens.content") : "",
                int32_t(a.get("id") ? a.get("id")->as_int("added_tokens.id") : -1), false};
        auto flag = [&](const char* k) { const Json* v = a.get(k); return v && v->kind == Json::Bool && v->b; };
        t.special = flag("special");
        if (flag("lstrip") || flag("rstrip") || flag("single_word") || flag("normalized"))
            throw TokenizerError("added token " + t.content +
                                 ": lstrip, rstrip, single_word and normalized are not supported");
        if (t.id < 0 || t.content.empty()) throw TokenizerError("an added token needs an id and content");
        if (size_t(t.id) >= id_to_token_.size()) {
            id_to_token_.resize(t.id + 1);
            special_.resize(t.id + 1, false);
        }
        id_to_token_[t.id] = t.content;
        special_[t.id] = t.special;
        added_.push_back(t);
    }
    // Gemma has thousands of added tokens: only those starting with the byte at hand are tried
    added_by_byte_.assign(256, {});
    for (size_t k = 0; k < added_.size(); ++k) added_by_byte_[(unsigned char)added_[k].content[0]].push_back(k);
    for (auto& bucket : added_by_byte_)
        std::stable_sort(bucket.begin(), bucket.end(),
                         [&](size_t a, size_t b) { return added_[a].content.size() > added_[b].content.size(); });
}

void Tokenizer::load_normalizer(const Json* norm) {
    if (!norm || norm->is_null()) return;
    std::vector<const Json*> parts;
    if (type_of(*norm) == "Sequence") {
        for (const Json& n : norm->get("normalizers")->arr) parts.push_back(&n);
    } else {
        parts.push_back(norm);
    }
    for (const Json* n : parts) {
        if (type_of(*n) != "Replace") throw TokenizerError("normalizer " + type_of(*n) + " is not supported");
        replaces_.emplace_back(string_pattern(*n, "normalizer Replace"), n->get("content")->as_string("content"));
    }
}

void Tokenizer::load_pre_tokenizer(const Json* pre) {
    if (!pre || pre->is_null()) return;
    std::string type = type_of(*pre);
    if (type == "ByteLevel") {
        const Json* ap = pre->get("add_prefix_space");
        const Json* ur = pre->get("use_regex");
        if ((ap && ap->kind == Json::Bool && ap->b) || (ur && ur->kind == Json::Bool && !ur->b))
            throw TokenizerError("ByteLevel pre-tokenizer: add_prefix_space=true or use_regex=false is not supported");
        pre_ = Pre::ByteLevel;
    } else if (type == "Split") {
        const Json* beh = pre->get("behavior");
        const Json* inv = pre->get("invert");
        if (!beh || beh->kind != Json::String || beh->str != "MergedWithPrevious" || (inv && inv->b))
            throw TokenizerError("Split pre-tokenizer: only behavior MergedWithPrevious, not inverted, is supported");
        split_pattern_ = string_pattern(*pre, "Split pre-tokenizer");
        pre_ = Pre::SplitMergedWithPrevious;
    } else {
        throw TokenizerError("pre-tokenizer " + type + " is not supported");
    }
}

void Tokenizer::load_decoder(const Json* dec) {
    if (!dec || dec->is_null()) throw TokenizerError("a decoder is required");
    std::vector<const Json*> parts;
    if (type_of(*dec) == "Sequence") {
        for (const Json& d : dec->get("decoders")->arr) parts.push_back(&d);
    } else {
        parts.push_back(dec);
    }
    for (const Json* d : parts) {
        std::string type = type_of(*d);
        if (type == "ByteLevel") byte_level_decoder_ = true;
        else if (type == "Replace") decode_replaces_.emplace_back(string_pattern(*d, "decoder Replace"),
                                                                   d->get("content")->as_string("content"));
        else if (type == "ByteFallback") decode_byte_fallback_ = true;
        else if (type == "Fuse") continue;  // the tokens are joined anyway
        else throw TokenizerError("decoder " + type + " is not supported");
    }
    if (byte_level_decoder_ && (decode_byte_fallback_ || !decode_replaces_.empty()))
        throw TokenizerError("a ByteLevel decoder mixed with others is not supported");
}

int32_t Tokenizer::token_id(std::string_view token) const {
    for (const Added& a : added_)
        if (a.content == token) return a.id;
    auto it = vocab_.find(std::string(token));
    return it == vocab_.end() ? -1 : it->second;
}

std::vector<std::string> Tokenizer::pre_tokenize(const std::string& normalized) const {
    std::vector<std::string> out;
    if (pre_ == Pre::ByteLevel) {
        Text s;
        utf8_decode(normalized, s);
        const auto& map = byte_to_unicode();
        for (size_t p = 0; p < s.size();) {
            size_t e = gpt2_match(s, p);
            std::string bytes = utf8_encode(s.substr(p, e - p)), mapped;
            for (unsigned char b : bytes) mapped += map[b];
            out.push_back(std::move(mapped));
            p = e;
        }
    } else if (pre_ == Pre::SplitMergedWithPrevious) {
        size_t at = 0, hit;
        while ((hit = normalized.find(split_pattern_, at)) != std::string::npos) {
            out.push_back(normalized.substr(at, hit + split_pattern_.size() - at));
            at = hit + split_pattern_.size();
        }
        if (at < normalized.size()) out.push_back(normalized.substr(at));
    } else if (!normalized.empty()) {
        out.push_back(normalized);
    }
    return out;
}

// HF BPE's merge_word + Word::merge_all: initial symbols (unknown characters by byte fallback
// or the unk token), then merges lowest rank first, leftmost first among equals.
void Tokenizer::bpe(const std::string& w, std::vector<int32_t>& out) const {
    struct Sym { int32_t id; int prev, next; bool alive; };
    std::vector<Sym> syms;
    int32_t unk_pending = -1;
    auto add = [&](int32_t id) { syms.push_back({id, int(syms.size()) - 1, int(syms.size()) + 1, true}); };
    Text cps;
    utf8_decode(w, cps);
    for (size_t i = 0; i < cps.size(); ++i) {
        std::string s;
        utf8_append(s, cps[i]);
        std::string key = (i ? subword_prefix_ : std::string()) + s + (i + 1 == cps.size() ? word_suffix_ : std::string());
        auto it = vocab_.find(key);
        if (it != vocab_.end()) {
            if (unk_pending >= 0) { add(unk_pending); unk_pending = -1; }
            add(it->second);
            continue;
        }
        if (byte_fallback_) {
            std::vector<int32_t> bytes;
            for (unsigned char b : key) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "<0x%02X>", b);
                auto bt = vocab_.find(buf);
                if (bt == vocab_.end()) { bytes.clear(); break; }
                bytes.push_back(bt->second);
            }
            if (!bytes.empty()) {
                for (int32_t b : bytes) add(b);
                continue;
            }
        }
        if (unk_id_ >= 0) {
            if (unk_pending >= 0 && !fuse_unk_) add(unk_pending);
            unk_pending = unk_id_;
        }
    }
    if (unk_pending >= 0) add(unk_pending);
    if (!syms.empty()) syms.back().next = -1;

    struct Cand { int32_t rank; int pos; int32_t new_id; };
    auto worse = [](const Cand& a, const Cand& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
    std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> queue(worse);
    for (size_t i = 0; i + 1 < syms.size(); ++i) {
        auto m = merges_.find(pair_key(syms[i].id, syms[i + 1].id));
        if (m != merges_.end()) queue.push({m->second.rank, int(i), m->second.new_id});
    }
    while (!queue.empty()) {
        Cand top = queue.top();
        queue.pop();
        Sym& cur = syms[top.pos];
        if (!cur.alive || cur.next < 0) continue;
        Sym& right = syms[cur.next];
        auto m = merges_.find(pair_key(cur.id, right.id));
        if (m == merges_.end() || m->second.new_id != top.new_id) continue;  // a stale entry
        cur.id = top.new_id;
        right.alive = false;
        cur.next = right.next;
        if (cur.next >= 0) syms[cur.next].prev = top.pos;
        if (cur.prev >= 0) {
            auto pm = merges_.find(pair_key(syms[cur.prev].id, cur.id));
            if (pm != merges_.end()) queue.push({pm->second.rank, cur.prev, pm->second.new_id});
        }
        if (cur.next >= 0) {
            auto nm = merges_.find(pair_key(cur.id, syms[cur.next].id));
            if (nm != merges_.end()) queue.push({nm->second.rank, top.pos, nm->second.new_id});
        }
    }
    for (const Sym& s : syms)
        if (s.alive) out.push_back(s.id);
}

void Tokenizer::encode_piece(const std::string& piece, std::vector<int32_t>& out) const {
    std::string norm = piece;
    for (const auto& r : replaces_) norm = replace_all(norm, r.first, r.second);
    for (const std::string& word : pre_tokenize(norm)) bpe(word, out);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
    Text check;
    if (!utf8_decode(text, check)) throw Utf8Error("the text is not valid UTF-8");
    std::vector<int32_t> out;
    std::string rest;
    // added tokens first, leftmost-longest (HF's AddedVocabulary), the text between encoded
    size_t p = 0, start = 0;
    while (p < text.size()) {
        const Added* best = nullptr;
        if (!added_by_byte_.empty())
            for (size_t k : added_by_byte_[(unsigned char)text[p]])  // longest first: the first hit wins
                if (text.compare(p, added_[k].content.size(), added_[k].content) == 0) { best = &added_[k]; break; }
        if (!best) { ++p; continue; }
        if (p > start) encode_piece(std::string(text.substr(start, p - start)), out);
        out.push_back(best->id);
        p += best->content.size();
        start = p;
    }
    if (start < text.size()) encode_piece(std::string(text.substr(start)), out);
    return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    std::vector<std::string> toks;
    for (int32_t id : ids) {
        if (id < 0 || size_t(id) >= id_to_token_.size() || id_to_token_[id].empty()) continue;
        if (skip_special && special_[id]) continue;
        toks.push_back(id_to_token_[id]);
    }
    if (byte_level_decoder_) {
        std::string bytes;
        const auto& map = unicode_to_byte();
        for (const std::string& t : toks) {
            Text cps;
            utf8_decode(t, cps);
            std::string mine;
            bool all = true;
            for (char32_t c : cps) {
                auto it = map.find(c);
                if (it == map.end()) { all = false; break; }
                mine.push_back(char(it->second));
            }
            bytes += all ? mine : t;  // a token outside the byte alphabet stays as written
        }
        return utf8_lossy(bytes);
    }
    std::string out, pending;
    size_t pending_n = 0;
    auto flush = [&] {
        if (!pending_n) return;
        Text check;
        if (utf8_decode(pending, check)) out += pending;
        else for (size_t k = 0; k < pending_n; ++k) out += "\xEF\xBF\xBD";
        pending.clear();
        pending_n = 0;
    };
    for (std::string t : toks) {
        for (const auto& r : decode_replaces_) t = replace_all(t, r.first, r.second);
        uint8_t b;
        if (decode_byte_fallback_ && byte_token(t, b)) { pending.push_back(char(b)); ++pending_n; continue; }
        flush();
        out += t;
    }
    flush();
    return out;
}

}  // namespace tc
