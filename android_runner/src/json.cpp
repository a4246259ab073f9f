#include "json.h"

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
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() { ws(); return i_ < s_.size() ? s_[i_] : '\0'; }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
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
    fail(c ? std::string("unexpected character '") + c + "'" : "unexpected end of input");
  }

  Value object(int depth) {
    Value v = Value::object();
    expect('{');
    if (peek() == '}') { ++i_; return v; }
    for (;;) {
      if (peek() != '"') fail("expected a string key");
      std::string key = string();
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
    if (!digits()) fail("bad number");
    if (i_ < s_.size() && s_[i_] == '.') { integral = false; ++i_; if (!digits()) fail("bad number"); }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      integral = false; ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) fail("bad number");
    }
    std::string text = s_.substr(start, i_ - start);
    if (integral && text.size() <= 18) return Value(static_cast<int64_t>(std::strtoll(text.c_str(), nullptr, 10)));
    return Value(std::strtod(text.c_str(), nullptr));  // huge integers stay doubles (caught as out of range later)
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
