#include "json.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "unicode.hpp"

namespace tc {
namespace {

class Parser {
public:
    explicit Parser(std::string_view t) : t_(t) {}

    Json document() {
        Json v = value(0);
        ws();
        if (p_ != t_.size()) fail("trailing characters after the JSON value");
        return v;
    }

private:
    std::string_view t_;
    size_t p_ = 0;

    [[noreturn]] void fail(const std::string& why) const {
        throw JsonError(why + " at byte " + std::to_string(p_));
    }
    void ws() {
        while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\n' || t_[p_] == '\r' || t_[p_] == '\t')) ++p_;
    }
    bool eat(char c) {
        ws();
        if (p_ < t_.size() && t_[p_] == c) { ++p_; return true; }
        return false;
    }
    void expect(char c) { if (!eat(c)) fail(std::string("expected '") + c + "'"); }

    Json value(int depth) {
        if (depth > 512) fail("nesting too deep");
        ws();
        if (p_ >= t_.size()) fail("unexpected end of input");
        char c = t_[p_];
        Json v;
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        if (c == '"') { v.kind = Json::String; v.str = string(); return v; }
        if (t_.substr(p_, 4) == "null") { p_ += 4; return v; }
        if (t_.substr(p_, 4) == "true") { p_ += 4; v.kind = Json::Bool; v.b = true; return v; }
        if (t_.substr(p_, 5) == "false") { p_ += 5; v.kind = Json::Bool; return v; }
        return number();
    }

    Json object(int depth) {
        Json v; v.kind = Json::Object; ++p_;
        if (eat('}')) return v;
        do {
            ws();
            if (p_ >= t_.size() || t_[p_] != '"') fail("expected a string key");
            std::string k = string();
            expect(':');
            v.obj.emplace_back(std::move(k), value(depth + 1));
        } while (eat(','));
        expect('}');
        return v;
    }

    Json array(int depth) {
        Json v; v.kind = Json::Array; ++p_;
        if (eat(']')) return v;
        do { v.arr.push_back(value(depth + 1)); } while (eat(','));
        expect(']');
        return v;
    }

    Json number() {
        size_t s = p_;
        if (p_ < t_.size() && t_[p_] == '-') ++p_;
        bool frac = false;
        while (p_ < t_.size()) {
            char c = t_[p_];
            if (c >= '0' && c <= '9') { ++p_; continue; }
            if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { frac = true; ++p_; continue; }
            break;
        }
        if (p_ == s) fail("unexpected character");
        std::string txt(t_.substr(s, p_ - s));
        Json v; v.kind = Json::Number;
        char* end = nullptr;
        v.num = std::strtod(txt.c_str(), &end);
        if (!end || *end) fail("malformed number '" + txt + "'");
        if (!frac) { v.is_int = true; v.i = std::strtoll(txt.c_str(), nullptr, 10); }
        return v;
    }

    unsigned hex4() {
        if (p_ + 4 > t_.size()) fail("truncated \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = t_[p_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
            else fail("bad \\u escape");
        }
        return v;
    }

    std::string string() {
        ++p_;  // opening quote
        std::string out;
        while (true) {
            if (p_ >= t_.size()) fail("unterminated string");
            char c = t_[p_++];
            if (c == '"') return out;
            if (c != '\\') { out.push_back(c); continue; }
            if (p_ >= t_.size()) fail("unterminated escape");
            char e = t_[p_++];
            switch (e) {
                case '"': out.push_back('"'); break;
                case '\\': out.push_back('\\'); break;
                case '/': out.push_back('/'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'n': out.push_back('\n'); break;
                case 'r': out.push_back('\r'); break;
                case 't': out.push_back('\t'); break;
                case 'u': {
                    unsigned u = hex4();
                    if (u >= 0xD800 && u < 0xDC00 && t_.substr(p_, 2) == "\\u") {
                        p_ += 2;
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate");
                        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (u >= 0xD800 && u < 0xE000) {
                        fail("unpaired surrogate");
                    }
                    utf8_append(out, u);
                    break;
                }
                default: fail("bad escape");
            }
        }
    }
};

}  // namespace

const Json* Json::get(std::string_view key) const {
    if (kind != Object) return nullptr;
    for (const auto& kv : obj)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

const std::string& Json::as_string(const char* what) const {
    if (kind != String) throw JsonError(std::string(what) + " must be a string");
    return str;
}

int64_t Json::as_int(const char* what) const {
    if (kind != Number || !is_int) throw JsonError(std::string(what) + " must be an integer");
    return i;
}

Json parse_json(std::string_view text) { return Parser(text).document(); }

Json read_json_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw JsonError(path + ": cannot be opened");
    std::stringstream ss;
    ss << in.rdbuf();
    try {
        return parse_json(ss.str());
    } catch (const JsonError& e) {
        throw JsonError(path + ": " + e.what());
    }
}

}  // namespace tc
