#include "json.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace json {

const Value* Value::find(const std::string& key) const {
  for (const auto& kv : obj_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Value& Value::set(const std::string& key, Value v) {
  for (auto& kv : obj_)
    if (kv.first == key) return kv.second = std::move(v);
  obj_.emplace_back(key, std::move(v));
  return obj_.back().second;
}

// The parser stores a lone UTF-16 surrogate escape (JSON allows "\ud800" on its own) as the
// surrogate's 3-byte form, ED A0..BF xx, which no valid UTF-8 text holds (and the parser refuses
// raw). Writing those bytes back as the same \uXXXX escape makes such an id round-trip exactly.
static bool surrogate_at(const std::string& s, size_t i) {
  return i + 2 < s.size() && static_cast<unsigned char>(s[i]) == 0xED &&
         (static_cast<unsigned char>(s[i + 1]) & 0xE0) == 0xA0 && (static_cast<unsigned char>(s[i + 2]) & 0xC0) == 0x80;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (surrogate_at(s, i)) {
      const unsigned cp = 0xD000u | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6) |
                          (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
      i += 2;
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

static std::string number(const Value& v) {
  if (v.is_int()) return std::to_string(v.as_int());
  double d = v.as_double();
  if (!std::isfinite(d)) return "null";  // JSON has no NaN/Inf
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", d);
  return buf;
}

std::string Value::dump() const {
  switch (kind_) {
    case Kind::Null: return "null";
    case Kind::Bool: return bool_ ? "true" : "false";
    case Kind::Number: return number(*this);
    case Kind::String: return quote(str_);
    case Kind::Array: {
      std::string out = "[";
      for (size_t i = 0; i < arr_.size(); ++i) out += (i ? "," : "") + arr_[i].dump();
      return out + "]";
    }
    case Kind::Object: {
      std::string out = "{";
      for (size_t i = 0; i < obj_.size(); ++i)
        out += (i ? "," : "") + quote(obj_[i].first) + ":" + obj_[i].second.dump();
      return out + "}";
    }
  }
  return "null";
}

// Recursive descent over the whole text; depth is capped so hostile input cannot blow the stack.
class Parser {
 public:
  explicit Parser(const std::string& t) : s_(t) {}

  Value document() {
    Value v = value(0);
    ws();
    if (i_ != s_.size()) fail("trailing characters after the JSON value");
    return v;
  }

 private:
  const std::string& s_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& what) {
    throw JsonError("invalid JSON at byte " + std::to_string(i_) + ": " + what);
  }
  // A byte for an error message that is itself UTF-8 JSON text: printable ASCII as is, else its value
  // (a raw 0xFF or a NUL copied into the message would make the results file unreadable).
  static std::string shown(char c) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) return std::string("'") + c + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", b);
    return buf;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() { ws(); return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'" + (i_ < s_.size() ? ", got " + shown(s_[i_]) : ""));
    ++i_;
  }
  bool literal(const char* word) {
    size_t n = std::char_traits<char>::length(word);
    if (s_.compare(i_, n, word) != 0) return false;
    i_ += n;
    return true;
  }

  Value value(int depth) {
    if (depth > 64) fail("nesting deeper than 64");
    char c = peek();
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Value(string());
    if (c == '-' || (c >= '0' && c <= '9')) return num();
    if (literal("true")) return Value(true);
    if (literal("false")) return Value(false);
    if (literal("null")) return Value();
    fail(i_ < s_.size() ? "unexpected character " + shown(c) : std::string("unexpected end of input"));
  }

  Value object(int depth) {
    Value v = Value::object();
    expect('{');
    if (peek() == '}') { ++i_; return v; }
    for (;;) {
      if (peek() != '"') fail("expected a string key" + (i_ < s_.size() ? ", got " + shown(s_[i_]) : ""));
      const size_t at = i_;
      std::string key = string();
      // A key given twice would silently keep one of its values: run the request as another
      if (v.find(key)) { i_ = at; fail("key " + quote(key) + " appears twice in one object"); }
      expect(':');
      v.set(key, value(depth + 1));
      char c = peek();
      ++i_;
      if (c == '}') return v;
      if (c != ',') { --i_; fail("expected ',' or '}'"); }
    }
  }

  Value array(int depth) {
    Value v = Value::array();
    expect('[');
    if (peek() == ']') { ++i_; return v; }
    for (;;) {
      v.push(value(depth + 1));
      char c = peek();
      ++i_;
      if (c == ']') return v;
      if (c != ',') { --i_; fail("expected ',' or ']'"); }
    }
  }

  Value num() {
    size_t start = i_;
    bool integral = true;
    if (s_[i_] == '-') ++i_;
    auto digits = [&] { size_t b = i_; while (i_ < s_.size() && isdigit((unsigned char)s_[i_])) ++i_; return i_ > b; };
    const size_t first = i_;
    if (!digits()) fail("bad number");
    if (s_[first] == '0' && i_ - first > 1) { i_ = first; fail("bad number: a leading zero (JSON writes 1, not 01)"); }
    if (i_ < s_.size() && s_[i_] == '.') { integral = false; ++i_; if (!digits()) fail("bad number"); }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false; ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) fail("bad number");
    }
    std::string text = s_.substr(start, i_ - start);
    if (integral) {
      errno = 0;
      const long long x = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) { i_ = start; fail("integer " + text.substr(0, 24) + " is out of range (64 bits)"); }
      return Value(static_cast<int64_t>(x));
    }
    const double d = std::strtod(text.c_str(), nullptr);
    if (!std::isfinite(d)) { i_ = start; fail("number " + text.substr(0, 24) + " is out of range"); }
    return Value(d);
  }

  void utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) out += static_cast<char>(cp);
    else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12)); out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18)); out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)); out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // Bytes in the valid UTF-8 sequence starting at `at` (2 to 4; no overlong forms, nothing past
  // U+10FFFF), or 0. Raw surrogates (ED A0..BF) are refused before this is asked.
  size_t utf8_length(size_t at) const {
    const auto b = [&](size_t k) { return at + k < s_.size() ? static_cast<unsigned char>(s_[at + k]) : 0u; };
    const unsigned lead = b(0);
    size_t n = lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 0;
    if (lead >= 0xF5) n = 0;
    for (size_t k = 1; k < n; ++k)
      if ((b(k) & 0xC0) != 0x80) return 0;
    if ((lead == 0xE0 && b(1) < 0xA0) || (lead == 0xF0 && b(1) < 0x90) || (lead == 0xF4 && b(1) >= 0x90)) return 0;
    return n;
  }

  uint32_t hex4() {
    if (i_ + 4 > s_.size()) fail("truncated \\u escape");
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
      else fail("bad \\u escape");
    }
    return cp;
  }

  std::string string() {
    std::string out;
    ++i_;  // opening quote
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
      if (surrogate_at(s_, i_ - 1)) fail("a UTF-16 surrogate written as raw bytes (ED A0..BF): escape it as \\uXXXX");
      if (static_cast<unsigned char>(c) >= 0x80) {  // one whole UTF-8 sequence, copied as is
        const size_t n = utf8_length(i_ - 1);
        if (!n) { --i_; fail("a string is not UTF-8 (" + shown(c) + ")"); }
        out.append(s_, i_ - 1, n);
        i_ += n - 1;
        continue;
      }
      if (c != '\\') { out += c; continue; }
      if (i_ >= s_.size()) break;
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(i_, 2, "\\u") == 0) {
            const size_t back = i_;
            i_ += 2;
            const uint32_t lo = hex4();
            if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            else i_ = back;  // no pair: this surrogate stands alone, the next escape is read by itself
          }
          utf8(out, cp);  // a lone surrogate: its 3-byte form, which quote() writes back as \uXXXX
          break;
        }
        default: fail("bad escape");
      }
    }
    fail("unterminated string");
  }
};

Value parse(const std::string& text) { return Parser(text).document(); }

}  // namespace json
