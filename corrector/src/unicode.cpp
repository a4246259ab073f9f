#include "unicode.hpp"

#include <algorithm>
#include <iterator>

namespace tc {
namespace {

struct FlagRun { char32_t start; uint16_t flags; };
struct LowerEntry { char32_t cp; char32_t to[3]; };
struct ScriptRun { char32_t start; int16_t script; };

#include "unicode_data.inc"

enum : uint16_t { F_L = 1, F_N = 2, F_P = 4, F_PYSPACE = 8, F_WSPACE = 16, F_ALNUM = 32,
                  F_DECIMAL = 64, F_CASED = 128, F_CASEIGN = 256 };

uint16_t flags(char32_t c) {
    if (c < 0x80) {  // ASCII fast path: a table of the first run entries would do the same
        static uint16_t ascii[128];
        static bool ready = [] {
            for (char32_t a = 0; a < 128; ++a) {
                auto it = std::upper_bound(std::begin(kFlagRuns), std::end(kFlagRuns), a,
                                           [](char32_t v, const FlagRun& r) { return v < r.start; });
                ascii[a] = std::prev(it)->flags;
            }
            return true;
        }();
        (void)ready;
        return ascii[c];
    }
    if (c >= 0x110000) return 0;
    auto it = std::upper_bound(std::begin(kFlagRuns), std::end(kFlagRuns), c,
                               [](char32_t v, const FlagRun& r) { return v < r.start; });
    return std::prev(it)->flags;
}

const LowerEntry* lower_entry(char32_t c) {
    auto it = std::lower_bound(std::begin(kLower), std::end(kLower), c,
                               [](const LowerEntry& e, char32_t v) { return e.cp < v; });
    return (it != std::end(kLower) && it->cp == c) ? &*it : nullptr;
}

bool cased(char32_t c) { return flags(c) & F_CASED; }
bool case_ignorable(char32_t c) { return flags(c) & F_CASEIGN; }

// CPython's handle_capital_sigma: Σ is final when a cased letter precedes it (skipping
// case-ignorables) and none follows it.
bool final_sigma(const Text& s, size_t i) {
    size_t j = i;
    while (j > 0 && case_ignorable(s[j - 1])) --j;
    if (j == 0 || !cased(s[j - 1])) return false;
    size_t k = i + 1;
    while (k < s.size() && case_ignorable(s[k])) ++k;
    return k == s.size() || !cased(s[k]);
}

}  // namespace

namespace uni {
bool is_letter(char32_t c) { return flags(c) & F_L; }
bool is_number(char32_t c) { return flags(c) & F_N; }
bool is_punct(char32_t c) { return flags(c) & F_P; }
bool py_space(char32_t c) { return flags(c) & F_PYSPACE; }
bool white_space(char32_t c) { return flags(c) & F_WSPACE; }
bool py_alnum(char32_t c) { return flags(c) & F_ALNUM; }
bool py_decimal(char32_t c) { return flags(c) & F_DECIMAL; }
bool py_word(char32_t c) { return c == U'_' || py_alnum(c); }

Text py_strip(const Text& s) {
    size_t a = 0, b = s.size();
    while (a < b && py_space(s[a])) ++a;
    while (b > a && py_space(s[b - 1])) --b;
    return s.substr(a, b - a);
}

Text lower(const Text& s) {
    Text out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char32_t c = s[i];
        if (c < 0x80) {
            out.push_back((c >= U'A' && c <= U'Z') ? c + 32 : c);
        } else if (c == 0x3A3) {
            out.push_back(final_sigma(s, i) ? 0x3C2 : 0x3C3);
        } else if (const LowerEntry* e = lower_entry(c)) {
            for (char32_t t : e->to)
                if (t) out.push_back(t);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

const char* script(char32_t c) {
    if (c >= 0x110000) return nullptr;
    auto it = std::upper_bound(std::begin(kScriptRuns), std::end(kScriptRuns), c,
                               [](char32_t v, const ScriptRun& r) { return v < r.start; });
    int idx = std::prev(it)->script;
    return idx < 0 ? nullptr : kScriptNames[idx];
}

const char* version() { return TC_UNICODE_VERSION; }
}  // namespace uni

bool utf8_decode(std::string_view in, Text& out) {
    out.clear();
    out.reserve(in.size());
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    size_t n = in.size(), i = 0;
    while (i < n) {
        unsigned char b = p[i];
        if (b < 0x80) { out.push_back(b); ++i; continue; }
        int len; char32_t c; unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) { len = 2; c = b & 0x1F; }
        else if (b >= 0xE0 && b <= 0xEF) { len = 3; c = b & 0x0F; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
        else if (b >= 0xF0 && b <= 0xF4) { len = 4; c = b & 0x07; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
        else return false;
        if (i + len > n) return false;
        for (int k = 1; k < len; ++k) {
            unsigned char t = p[i + k];
            if (t < (k == 1 ? lo : 0x80) || t > (k == 1 ? hi : 0xBF)) return false;
            c = (c << 6) | (t & 0x3F);
        }
        out.push_back(c);
        i += len;
    }
    return true;
}

void utf8_append(std::string& out, char32_t c) {
    if (c < 0x80) { out.push_back(static_cast<char>(c)); }
    else if (c < 0x800) { out.push_back(static_cast<char>(0xC0 | (c >> 6))); out.push_back(static_cast<char>(0x80 | (c & 0x3F))); }
    else if (c < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (c >> 12)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (c >> 18)));
        out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
}

std::string utf8_encode(const Text& s) {
    std::string out;
    out.reserve(s.size());
    for (char32_t c : s) utf8_append(out, c);
    return out;
}

std::string utf8_lossy(std::string_view in) {
    std::string out;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data());
    size_t n = in.size(), i = 0;
    while (i < n) {
        unsigned char b = p[i];
        if (b < 0x80) { out.push_back(static_cast<char>(b)); ++i; continue; }
        int len; unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) len = 2;
        else if (b >= 0xE0 && b <= 0xEF) { len = 3; if (b == 0xE0) lo = 0xA0; if (b == 0xED) hi = 0x9F; }
        else if (b >= 0xF0 && b <= 0xF4) { len = 4; if (b == 0xF0) lo = 0x90; if (b == 0xF4) hi = 0x8F; }
        else { out += "\xEF\xBF\xBD"; ++i; continue; }
        int k = 1;  // the maximal valid prefix of this sequence
        while (k < len && i + k < n) {
            unsigned char t = p[i + k];
            if (t < (k == 1 ? lo : 0x80) || t > (k == 1 ? hi : 0xBF)) break;
            ++k;
        }
        if (k == len) out.append(in.substr(i, len));
        else out += "\xEF\xBF\xBD";
        i += k;
    }
    return out;
}

}  // namespace tc
