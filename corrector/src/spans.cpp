#include "spans.hpp"

namespace tc {
namespace {

bool word_at(const Text& s, long i) { return i >= 0 && size_t(i) < s.size() && uni::py_word(s[i]); }
// Python's \b
bool boundary(const Text& s, size_t p) { return word_at(s, long(p) - 1) != word_at(s, long(p)); }
bool digit(const Text& s, size_t i) { return i < s.size() && uni::py_decimal(s[i]); }
bool has(const Text& s, size_t i, char32_t c) { return i < s.size() && s[i] == c; }
bool starts(const Text& s, size_t p, const char32_t* lit) {
    for (size_t k = 0; lit[k]; ++k)
        if (p + k >= s.size() || s[p + k] != lit[k]) return false;
    return true;
}

// `[^`\n]+`
size_t inline_code(const Text& s, size_t p) {
    if (!has(s, p, U'`')) return 0;
    size_t q = p + 1;
    while (q < s.size() && s[q] != U'`' && s[q] != U'\n') ++q;
    return (q > p + 1 && has(s, q, U'`')) ? q + 1 : 0;
}

// \b(?:https?://|ftp://|www\.)[^\s<>"']+[^\s<>"'.,;:!?)\]]
size_t url(const Text& s, size_t p) {
    if (!boundary(s, p)) return 0;
    auto tail = [&](size_t q) -> size_t {
        auto body = [](char32_t c) { return !uni::py_space(c) && c != U'<' && c != U'>' && c != U'"' && c != U'\''; };
        size_t r = q;
        while (r < s.size() && body(s[r])) ++r;
        for (size_t e = r; e >= q + 2; --e) {  // the longest run whose last character may end a URL
            char32_t c = s[e - 1];
            if (c != U'.' && c != U',' && c != U';' && c != U':' && c != U'!' && c != U'?' && c != U')' && c != U']')
                return e;
        }
        return 0;
    };
    const char32_t* prefixes[] = {U"https://", U"http://", U"ftp://", U"www."};
    for (const char32_t* pre : prefixes) {
        if (!starts(s, p, pre)) continue;
        if (size_t e = tail(p + std::char_traits<char32_t>::length(pre))) return e;
    }
    return 0;
}

// (?<![\w.+-])\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b
size_t email(const Text& s, size_t p) {
    auto local = [](char32_t c) { return uni::py_word(c) || c == U'.' || c == U'+' || c == U'-'; };
    auto dom = [](char32_t c) { return uni::py_word(c) || c == U'-'; };
    if (p > 0 && local(s[p - 1])) return 0;
    if (!boundary(s, p)) return 0;
    size_t q = p;
    while (q < s.size() && local(s[q])) ++q;
    if (q == p || !has(s, q, U'@')) return 0;
    size_t r = q + 1;
    while (r < s.size() && dom(s[r])) ++r;
    if (r == q + 1) return 0;
    std::vector<Span> segs;  // the ".label" segments after the first label
    while (has(s, r, U'.') && r + 1 < s.size() && dom(s[r + 1])) {
        size_t b = r + 1, e = b;
        while (e < s.size() && dom(s[e])) ++e;
        segs.emplace_back(b, e);
        r = e;
    }
    // backtracking order: the last segment shortened first, then the ones before it
    for (size_t k = segs.size(); k-- > 0;)
        for (size_t e = segs[k].second; e > segs[k].first; --e)
            if (boundary(s, e)) return e;
    return 0;
}

// \b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:\s?[aApP]\.?[mM]\.?)?
size_t time_of_day(const Text& s, size_t p) {
    if (!boundary(s, p) || !digit(s, p)) return 0;
    size_t q = p + 1;
    if (digit(s, q) && has(s, q + 1, U':')) ++q;
    if (!has(s, q, U':') || !digit(s, q + 1) || !digit(s, q + 2)) return 0;
    q += 3;
    if (has(s, q, U':') && digit(s, q + 1) && digit(s, q + 2)) q += 3;
    if ((has(s, q, U'.') || has(s, q, U',')) && digit(s, q + 1)) {
        q += 2;
        while (digit(s, q)) ++q;
    }
    auto ampm = [&](size_t a) -> size_t {
        if (!(has(s, a, U'a') || has(s, a, U'A') || has(s, a, U'p') || has(s, a, U'P'))) return 0;
        size_t b = a + 1;
        if (has(s, b, U'.') && (has(s, b + 1, U'm') || has(s, b + 1, U'M'))) b += 2;
        else if (has(s, b, U'm') || has(s, b, U'M')) b += 1;
        else return 0;
        return has(s, b, U'.') ? b + 1 : b;
    };
    if (q < s.size() && uni::py_space(s[q])) {
        if (size_t e = ampm(q + 1)) return e;
    }
    if (size_t e = ampm(q)) return e;
    return q;
}

// [$€£]?(?<!\d)(?<!\d[,.])\d(?:[\d,.]*\d)?%?
size_t number(const Text& s, size_t p) {
    auto rest = [&](size_t d) -> size_t {  // d: the first digit
        size_t r = d + 1, e = d + 1;
        while (r < s.size() && (uni::py_decimal(s[r]) || s[r] == U',' || s[r] == U'.')) {
            if (uni::py_decimal(s[r])) e = r + 1;
            ++r;
        }
        return has(s, e, U'%') ? e + 1 : e;
    };
    if (has(s, p, U'$') || has(s, p, U'\u20AC') || has(s, p, U'\u00A3'))
        return digit(s, p + 1) ? rest(p + 1) : 0;
    if (p >= 1 && digit(s, p - 1)) return 0;
    if (p >= 2 && digit(s, p - 2) && (s[p - 1] == U',' || s[p - 1] == U'.')) return 0;
    return digit(s, p) ? rest(p) : 0;
}

}  // namespace

std::vector<Span> protected_spans(const Text& s) {
    std::vector<Span> out;
    size_t (*const patterns[])(const Text&, size_t) = {inline_code, url, email, time_of_day, number};
    for (size_t p = 0; p < s.size();) {
        size_t e = 0;
        for (auto pat : patterns)
            if ((e = pat(s, p))) break;
        if (e) { out.emplace_back(p, e); p = e; }
        else ++p;
    }
    return out;
}

std::vector<Text> protected_strings(const Text& s) {
    std::vector<Text> out;
    for (const Span& sp : protected_spans(s)) out.push_back(s.substr(sp.first, sp.second - sp.first));
    return out;
}

Edges split_edges(const Text& t) {
    size_t a = 0, b = t.size();
    while (a < b && uni::is_punct(t[a])) ++a;
    while (b > a && uni::is_punct(t[b - 1])) --b;
    return {t.substr(0, a), t.substr(a, b - a), t.substr(b)};
}

std::vector<Span> tokenize(const Text& s) {
    std::vector<Span> out;
    for (size_t p = 0; p < s.size();) {
        if (uni::py_space(s[p])) { ++p; continue; }
        size_t q = p;
        while (q < s.size() && !uni::py_space(s[q])) ++q;
        out.emplace_back(p, q);
        p = q;
    }
    return out;
}

std::vector<Text> words(const Text& s, const std::vector<Span>& spans) {
    std::vector<Text> out;
    for (auto& sp : spans) out.push_back(s.substr(sp.first, sp.second - sp.first));
    return out;
}

}  // namespace tc
