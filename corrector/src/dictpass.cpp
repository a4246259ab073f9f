#include "dictpass.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <unordered_map>
#include <sys/stat.h>

#include "align.hpp"
#include "spans.hpp"

namespace tc {
namespace {

// ---------------------------------------------------------------- core/keyboard.py
struct Keyboard {
    std::string near[128];  // NEIGHBOURS: sorted neighbour letters of each letter
    Keyboard() {
        struct Key { char ch; double x, y; };
        std::vector<Key> keys;
        const std::pair<const char*, double> rows[] = {{"qwertyuiop", 0.0}, {"asdfghjkl", 0.25}, {"zxcvbnm", 0.75}};
        for (int y = 0; y < 3; ++y)
            for (int x = 0; rows[y].first[x]; ++x) keys.push_back({rows[y].first[x], x + rows[y].second, double(y)});
        for (const Key& k : keys) {
            std::string out;
            for (const Key& o : keys)
                if (o.ch != k.ch && std::fabs(o.y - k.y) <= 1 && std::fabs(o.x - k.x) <= (o.y == k.y ? 1.0 : 0.75))
                    out.push_back(o.ch);
            std::sort(out.begin(), out.end());
            near[int(k.ch)] = out;
        }
    }
};

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? char(c - 'a' + 'A') : c; }
std::string lower(std::string s) { for (char& c : s) c = ascii_lower(c); return s; }

// _omit: leaving out meant[i] costs half for one letter of a double or a space, a quarter for an apostrophe
double omit(const std::string& meant, size_t i) {
    char c = meant[i];
    bool dbl = (i > 0 && meant[i - 1] == c) || (i + 1 < meant.size() && meant[i + 1] == c);
    if (c == ' ' || c == '\'') return c == '\'' ? 0.25 : 0.5;
    return dbl ? 0.5 : 1.0;
}

// _extra: typing typed[j] that was not meant costs half when it repeats or neighbours a letter beside it
double extra(const std::string& typed, size_t j) {
    char c = typed[j];
    if (c == ' ') return 0.5;
    for (long k : {long(j) - 1, long(j) + 1}) {
        if (k < 0 || size_t(k) >= typed.size()) continue;
        char o = typed[size_t(k)];
        if (c == o || adjacent(c, o)) return 0.5;
    }
    return 1.0;
}

// ---------------------------------------------------------------- words and tokens
bool ascii_letter(char32_t c) { return (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z'); }

// _WORD.fullmatch: [A-Za-z]+(?:'[A-Za-z]+)*
bool plain_word(const Text& t) {
    if (t.empty() || !ascii_letter(t.front()) || !ascii_letter(t.back())) return false;
    for (size_t k = 0; k < t.size(); ++k) {
        if (ascii_letter(t[k])) continue;
        if (t[k] != U'\'' || !ascii_letter(t[k + 1]) || !ascii_letter(t[k - 1])) return false;
    }
    return true;
}

std::string ascii(const Text& t) { return std::string(t.begin(), t.end()); }  // plain_word text only
Text widen(const std::string& s) { return Text(s.begin(), s.end()); }

bool py_islower(const std::string& s) {  // str.islower on ASCII: a cased letter, none upper
    bool cased = false;
    for (char c : s) {
        if (c >= 'A' && c <= 'Z') return false;
        if (c >= 'a' && c <= 'z') cased = true;
    }
    return cased;
}
bool py_isupper(const std::string& s) {
    bool cased = false;
    for (char c : s) {
        if (c >= 'a' && c <= 'z') return false;
        if (c >= 'A' && c <= 'Z') cased = true;
    }
    return cased;
}

Text decode(const std::string& s, const char* what) {
    Text t;
    if (!utf8_decode(s, t)) throw Utf8Error(std::string(what) + " is not valid UTF-8");
    return t;
}

// cased: `text` in the typed word's case (ALL CAPS stays so, a capital first letter stays)
std::string cased(const std::string& typed, std::string text) {
    if (typed.size() > 1 && py_isupper(typed)) {
        for (char& c : text) c = ascii_upper(c);
        return text;
    }
    if (!typed.empty() && typed[0] >= 'A' && typed[0] <= 'Z' && !text.empty()) text[0] = ascii_upper(text[0]);
    return text;
}

Text substitute(const Text& text, const std::vector<Span>& spans, const Candidate& c) {
    const Span& a = spans[c.start];
    const Span& b = spans[c.end - 1];
    Edges first = split_edges(text.substr(a.first, a.second - a.first));
    Edges last = split_edges(text.substr(b.first, b.second - b.first));
    return text.substr(0, a.first) + first.lead + widen(cased(ascii(first.core), c.text)) + last.trail +
           text.substr(b.second);
}

// pick: the candidate that beats keeping the word by margin and the runner-up by tie_margin
const Candidate* pick(double keep, std::vector<std::pair<double, const Candidate*>> scored, const DictConfig& cfg) {
    if (scored.empty()) return nullptr;
    std::stable_sort(scored.begin(), scored.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    double best = scored[0].first;
    if (best - keep < cfg.margin) return nullptr;
    if (scored.size() > 1 && best - scored[1].first < cfg.tie_margin) return nullptr;
    return scored[0].second;
}

// str.splitlines boundaries
bool line_break(char32_t c) {
    return c == U'\n' || c == U'\r' || c == U'\v' || c == U'\f' || c == 0x1c || c == 0x1d || c == 0x1e ||
           c == 0x85 || c == 0x2028 || c == 0x2029;
}

bool py_isalpha(const Text& t) {
    if (t.empty()) return false;
    for (char32_t c : t) if (!uni::is_letter(c)) return false;
    return true;
}

const Keyboard& keyboard() { static const Keyboard k; return k; }

}  // namespace

bool adjacent(char a, char b) {
    unsigned char la = static_cast<unsigned char>(ascii_lower(a));
    if (la >= 128) return false;
    return keyboard().near[la].find(ascii_lower(b)) != std::string::npos;
}

double edit_cost(const std::string& typed, const std::string& meant) {
    const std::string a = lower(meant), b = lower(typed);
    const size_t n = a.size(), m = b.size();
    std::vector<std::vector<double>> d(n + 1, std::vector<double>(m + 1, 0.0));
    for (size_t i = 1; i <= n; ++i) d[i][0] = d[i - 1][0] + omit(a, i - 1);
    for (size_t j = 1; j <= m; ++j) d[0][j] = d[0][j - 1] + extra(b, j - 1);
    for (size_t i = 1; i <= n; ++i)
        for (size_t j = 1; j <= m; ++j) {
            double sub = a[i - 1] == b[j - 1] ? 0.0 : (adjacent(a[i - 1], b[j - 1]) ? 0.5 : 1.0);
            double best = std::min({d[i - 1][j] + omit(a, i - 1), d[i][j - 1] + extra(b, j - 1), d[i - 1][j - 1] + sub});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && a[i - 1] != a[i - 2])
                best = std::min(best, d[i - 2][j - 2] + 0.75);
            d[i][j] = best;
        }
    return d[n][m];
}

void DictConfig::check() const {
    auto need = [](bool ok, const std::string& why) { if (!ok) throw DictError(why); };
    need(margin >= 0, "dictionary.margin must be >= 0 (nats)");
    need(tie_margin >= 0, "dictionary.tie_margin must be >= 0 (nats)");
    need(max_edit_distance >= 1 && max_edit_distance <= 2, "dictionary.max_edit_distance must be 1 or 2");
    need(max_candidates >= 1 && max_candidates <= 32, "dictionary.max_candidates must be in [1, 32]");
    need(max_words >= 1 && max_words <= 64, "dictionary.max_words must be in [1, 64]");
    need(min_word_len >= 1, "dictionary.min_word_len must be >= 1");
    need(edit_weight >= 0, "dictionary.edit_weight must be >= 0");
    need(list_bonus >= 0, "dictionary.list_bonus must be >= 0");
    need(min_part_count >= 0, "dictionary.min_part_count must be >= 0");
    need(context == "typed" || context == "masked" || context == "both",
         "dictionary.context must be one of ['typed', 'masked', 'both'], got '" + context + "'");
    Text m;
    bool one_word = utf8_decode(mask, m) && !m.empty() && std::none_of(m.begin(), m.end(), uni::py_space);
    need(one_word, "dictionary.mask must be one word with no whitespace, got '" + mask + "'");
}

// ---------------------------------------------------------------- masked
namespace {
// Python re.IGNORECASE on a pattern code point `p` (lowercase): does input code point c match it?
bool folds_to(char32_t c, char32_t p) {
    if (c == p) return true;
    if (p == U'k' && c == 0x212A) return true;                    // KELVIN SIGN
    if (p == U'i' && (c == 0x130 || c == 0x131)) return true;     // İ, ı
    if (p == U's' && c == 0x17F) return true;                     // ſ (long s)
    if (c < 128) return c >= U'A' && c <= U'Z' && char32_t(c - U'A' + U'a') == p;
    Text low = uni::lower(Text(1, c));
    return low.size() == 1 && low[0] == p;
}

bool word_or_apostrophe(char32_t c) { return c == U'\'' || uni::py_word(c); }  // [\w']

// the length of the core matched at `at` (lookarounds included), else 0
size_t match_at(const Text& in, size_t at, const Text& core) {
    if (at + core.size() > in.size()) return 0;
    for (size_t i = 0; i < core.size(); ++i)
        if (!folds_to(in[at + i], core[i])) return 0;
    size_t end = at + core.size();
    return end < in.size() && word_or_apostrophe(in[end]) ? 0 : core.size();
}
}  // namespace

Text masked(const Text& input, const std::vector<Text>& words, const Text& mask) {
    std::vector<Text> cores;  // lowercase, distinct; at most one can match at a place (see the header)
    for (const Text& w : words) {
        Text core = uni::lower(split_edges(w).core);
        if (!core.empty() && std::find(cores.begin(), cores.end(), core) == cores.end()) cores.push_back(core);
    }
    if (cores.empty()) return input;
    Text out;
    for (size_t at = 0; at < input.size();) {
        size_t n = 0;
        if (at == 0 || !word_or_apostrophe(input[at - 1]))  // lookbehind on the original text, as re.sub
            for (const Text& core : cores)
                if ((n = match_at(input, at, core))) break;
        if (n) {
            out += mask;
            at += n;
        } else {
            out.push_back(input[at++]);
        }
    }
    return out;
}

// ---------------------------------------------------------------- the misspelling list
Misspellings::Misspellings(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw DictError("misspellings " + path + ": not found");
    if (!S_ISREG(st.st_mode))
        throw DictError("misspellings " + path + ": not a regular file (give one Mitton .dat list; "
                        "device_bench.dictionary.write_misspellings_dat joins a folder of lists into one)");
    if (path.size() < 4 || path.compare(path.size() - 4, 4, ".dat") != 0)
        throw DictError("misspellings " + path + ": only Mitton .dat lists are read here "
                        "(device_bench.dictionary.write_misspellings_dat writes one from any list)");
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw DictError("misspellings " + path + ": cannot be read");
    if (bytes.rfind("\xEF\xBB\xBF", 0) == 0) bytes.erase(0, 3);  // utf-8-sig
    Text text;
    if (!utf8_decode(bytes, text)) throw DictError("misspellings " + path + ": is no UTF-8 text");
    bool have_meant = false;
    Text meant;
    for (size_t p = 0; p < text.size();) {  // str.splitlines()
        size_t q = p;
        while (q < text.size() && !line_break(text[q])) ++q;
        Text line = text.substr(p, q - p);
        p = (q + 1 < text.size() && text[q] == U'\r' && text[q + 1] == U'\n') ? q + 2 : q + 1;
        if (!line.empty() && line[0] == U'$') {
            meant = uni::py_strip(line.substr(1));
            have_meant = true;
            continue;
        }
        Text s = uni::py_strip(line);
        if (s.empty() || !have_meant) continue;
        size_t e = 0;
        while (e < s.size() && !uni::py_space(s[e])) ++e;
        Text typed = s.substr(0, e);  // line.split()[0]
        if (!py_isalpha(typed) || !py_isalpha(meant)) continue;
        Text lt = uni::lower(typed), lm = uni::lower(meant);
        if (lt != lm) pairs_.emplace(utf8_encode(lt), utf8_encode(lm));
    }
    if (pairs_.empty()) throw DictError("misspellings " + path + ": holds no misspelling pairs ('$meant' lines, then typed words)");
}

// ---------------------------------------------------------------- the pass
namespace {
const char* const kEndOfTurn[] = {"<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>"};  // core.prompt
}

DictionaryPass::DictionaryPass(const Corrector& corrector, const std::string& dictionary,
                               const std::string& misspellings, DictConfig cfg)
    : corr_(corrector), cfg_((cfg.check(), cfg)), sym_(dictionary),
      pairs_(misspellings.empty() ? Misspellings() : Misspellings(misspellings)), answer_eos_(-1) {
    // core.prompt.answer_eos_id: the template's end-of-turn marker, else the one EOS
    for (const char* t : kEndOfTurn)
        if ((answer_eos_ = corr_.tokenizer().token_id(t)) >= 0) break;
    if (answer_eos_ < 0 && corr_.stop_ids().size() == 1) answer_eos_ = corr_.stop_ids()[0];
    if (answer_eos_ < 0) throw DictError("dictionary pass: the tokenizer has no end-of-turn token and several stop ids");
}

std::vector<int32_t> DictionaryPass::answer_ids(const std::string& answer) const {
    std::vector<int32_t> ids = corr_.tokenizer().encode(answer);
    ids.push_back(answer_eos_);
    return ids;
}

std::vector<double> DictionaryPass::context_log_probs(const Text& input, const std::vector<Text>& words,
                                                     const std::vector<std::vector<int32_t>>& conts,
                                                     const ScoreFn& score, size_t max_len) const {
    std::vector<Text> texts;  // _context_log_probs: typed first, then masked, summed
    if (cfg_.context != "masked") texts.push_back(input);
    if (cfg_.context != "typed") texts.push_back(masked(input, words, decode(cfg_.mask, "dictionary.mask")));
    size_t longest = 0;
    for (auto& c : conts) longest = std::max(longest, c.size());
    std::vector<double> total(conts.size(), 0.0);
    for (const Text& text : texts) {
        std::vector<int32_t> prefix = corr_.prompt_ids(utf8_encode(text));
        if (prefix.size() + longest > max_len) return {};
        std::vector<double> lps = score(prefix, conts);
        if (lps.size() != conts.size())
            throw DictError("score returned " + std::to_string(lps.size()) + " log-probs for " +
                            std::to_string(conts.size()) + " continuations");
        for (size_t i = 0; i < total.size(); ++i) total[i] += lps[i];
    }
    return total;
}

std::vector<size_t> DictionaryPass::targets(const Text& input, const Text& raw, const Text& out) const {
    auto spans = tokenize(out);
    auto tokens = words(out, spans);
    std::vector<bool> guarded(tokens.size(), false);  // _protected_tokens: overlaps a protected span
    for (const Span& p : protected_spans(out))
        for (size_t k = 0; k < spans.size(); ++k)
            if (p.first < spans[k].second && spans[k].first < p.second) guarded[k] = true;
    std::vector<bool> refused(tokens.size(), false);  // _refused_in_output
    if (cfg_.refused_words) {
        auto bad = corr_.guard_object().refused_words(input, raw);
        if (!bad.empty()) {
            auto xsp = tokenize(input);
            auto x = words(input, xsp);
            std::unordered_map<Text, int> ids;
            std::vector<int> a, b;
            for (auto& t : x) a.push_back(ids.emplace(t, int(ids.size())).first->second);
            for (auto& t : tokens) b.push_back(ids.emplace(t, int(ids.size())).first->second);
            std::set<size_t> badset(bad.begin(), bad.end());
            for (const Opcode& op : levenshtein_opcodes(a, b))
                if (op.tag == Opcode::Equal)
                    for (size_t d = 0; d < op.i2 - op.i1; ++d)
                        if (badset.count(op.i1 + d)) refused[op.j1 + d] = true;
        }
    }
    static const Text closers = U"\"')]\u201d\u2019";
    std::vector<size_t> found;
    for (size_t k = 0; k < tokens.size(); ++k) {
        Text core = split_edges(tokens[k]).core;
        if (guarded[k] || !plain_word(core) || long(core.size()) < cfg_.min_word_len) continue;
        std::string w = ascii(core), low = lower(w);
        if (is_abbreviation(widen(low))) continue;
        bool ok = py_islower(w);  // _lower_or_opens
        if (!ok) {
            bool opens = k == 0;
            if (!opens) {
                Text prev = tokens[k - 1];
                while (!prev.empty() && closers.find(prev.back()) != Text::npos) prev.pop_back();
                opens = !prev.empty() && (prev.back() == U'.' || prev.back() == U'!' || prev.back() == U'?');
            }
            ok = opens && w[0] >= 'A' && w[0] <= 'Z' && py_islower(w.substr(1));
        }
        if (!ok) continue;
        if (sym_.count(widen(low)) && !refused[k]) continue;
        found.push_back(k);
    }
    if (found.size() > size_t(cfg_.max_words)) found.resize(size_t(cfg_.max_words));
    return found;
}

std::vector<Candidate> DictionaryPass::candidates(const std::vector<Text>& tokens, size_t k) const {
    const std::string low = lower(ascii(split_edges(tokens[k]).core));
    std::vector<Candidate> found;  // Python's dict: first insertion fixes the order, max prior kept
    auto add = [&](size_t start, size_t end, const std::string& text, const std::string& typed) {
        double bonus = pairs_.has(typed, text) ? cfg_.list_bonus : 0.0;
        double prior = -cfg_.edit_weight * edit_cost(typed, text) + bonus;
        for (Candidate& c : found)
            if (c.start == start && c.end == end && c.text == text) { c.prior = std::max(prior, c.prior); return; }
        found.push_back({start, end, text, std::max(prior, -1e9)});
    };
    for (const auto& s : sym_.lookup_all(widen(low), cfg_.max_edit_distance))
        if (s.term != widen(low) && plain_word(s.term)) add(k, k + 1, ascii(s.term), low);
    for (size_t i = 1; i < low.size(); ++i)
        if (cfg_.splits && std::min(sym_.count(low.substr(0, i)), sym_.count(low.substr(i))) >=
                               std::max<int64_t>(1, cfg_.min_part_count))
            add(k, k + 1, low.substr(0, i) + " " + low.substr(i), low);
    if (cfg_.merges)
        for (long a : {long(k) - 1, long(k)}) {
            if (a < 0 || size_t(a) + 1 >= tokens.size()) continue;
            if (!plain_word(tokens[size_t(a)]) || !plain_word(tokens[size_t(a) + 1])) continue;  // _joinable
            std::string x = lower(ascii(tokens[size_t(a)])), y = lower(ascii(tokens[size_t(a) + 1]));
            if (sym_.count(x + y)) add(size_t(a), size_t(a) + 2, x + y, x + " " + y);
        }
    // which reach the model: the prior, then how common the rarer word is
    std::vector<double> rank;
    for (const Candidate& c : found) {
        int64_t least = -1;
        std::istringstream parts(c.text);
        for (std::string w; parts >> w;) {
            int64_t n = sym_.count(w);
            least = least < 0 ? n : std::min(least, n);
        }
        rank.push_back(c.prior + 0.5 * std::log10(double(1 + least)));
    }
    std::vector<size_t> order(found.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return rank[x] > rank[y]; });
    std::vector<Candidate> best;
    for (size_t i = 0; i < order.size() && best.size() < size_t(cfg_.max_candidates); ++i) best.push_back(found[order[i]]);
    // an apostrophe put in ("dont" -> "don't") always reaches the model, once: SymSpell may have
    // proposed it already, and a second copy would tie with the first and block it
    if (low.find('\'') == std::string::npos)
        for (size_t i = 1; i < low.size(); ++i) {
            std::string w = low.substr(0, i) + "'" + low.substr(i);
            bool have = std::any_of(best.begin(), best.end(),
                                    [&](const Candidate& c) { return c.start == k && c.end == k + 1 && c.text == w; });
            if (sym_.count(w) && !have) best.push_back({k, k + 1, w, -cfg_.edit_weight * 0.25});
        }
    return best;
}

PassResult DictionaryPass::run(const std::string& input, const std::string& raw, const ScoreFn& score,
                               size_t max_len) const {
    const Text in = decode(input, "the input"), rw = decode(raw, "the raw output");
    const Text out = corr_.guard_object().guard(in, rw);
    PassResult res;
    res.output = utf8_encode(out);
    auto spans = tokenize(out);
    auto tokens = words(out, spans);
    std::vector<std::pair<size_t, std::vector<Candidate>>> cands;
    for (size_t k : targets(in, rw, out)) cands.emplace_back(k, candidates(tokens, k));
    if (cands.empty()) return res;
    res.needed = true;
    std::vector<std::pair<size_t, const Candidate*>> variants;
    std::vector<std::vector<int32_t>> conts{answer_ids(res.output)};
    for (auto& [k, cs] : cands)
        for (const Candidate& c : cs) {
            variants.emplace_back(k, &c);
            conts.push_back(answer_ids(utf8_encode(substitute(out, spans, c))));
        }
    std::vector<Text> under_review;
    for (auto& [k, cs] : cands) under_review.push_back(tokens[k]);
    std::vector<double> lps = context_log_probs(in, under_review, conts, score, max_len);
    if (lps.empty()) return res;  // too long for the model: the guarded output stays
    std::vector<const Candidate*> chosen;
    for (auto& [k, cs] : cands) {
        std::vector<std::pair<double, const Candidate*>> mine;
        for (size_t v = 0; v < variants.size(); ++v)
            if (variants[v].first == k) mine.emplace_back(lps[v + 1] + variants[v].second->prior, variants[v].second);
        const Candidate* c = pick(lps[0], mine, cfg_);
        if (!c) continue;
        bool free = std::all_of(chosen.begin(), chosen.end(),
                                [&](const Candidate* o) { return c->end <= o->start || o->end <= c->start; });
        if (free) chosen.push_back(c);
    }
    std::sort(chosen.begin(), chosen.end(), [](const Candidate* x, const Candidate* y) { return x->start > y->start; });
    Text result = out;
    for (const Candidate* c : chosen) result = substitute(result, spans, *c);  // right to left
    const Text final_text = corr_.guard_object().guard(in, result);  // the guard has the last word
    if (final_text != out) {
        std::reverse(chosen.begin(), chosen.end());
        for (const Candidate* c : chosen) {
            Text typed;
            for (size_t t = c->start; t < c->end; ++t) typed += (t > c->start ? U" " : U"") + tokens[t];
            res.changes.push_back(utf8_encode(typed) + "->" + c->text);
        }
    }
    res.output = utf8_encode(final_text);
    return res;
}

}  // namespace tc
