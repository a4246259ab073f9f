#include "guard.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "align.hpp"
#include "spans.hpp"

namespace tc {
namespace {

using Opt = std::optional<double>;
using Toks = std::vector<Text>;
constexpr double kReject = 100.0;  // DP cost of one reverted token

Text T(const char* ascii) { return Text(ascii, ascii + std::char_traits<char>::length(ascii)); }

std::set<Text> word_set(const char* words) {
    std::set<Text> out;
    Text cur;
    for (const char* p = words;; ++p) {
        if (*p == ' ' || !*p) {
            if (!cur.empty()) out.insert(cur);
            cur.clear();
            if (!*p) break;
        } else {
            cur.push_back(char32_t(*p));
        }
    }
    return out;
}

const std::set<Text>& short_words() {
    static const auto s = word_set("a i am an as at be by do go he hi if in is it me my no of oh ok on or so to up us we");
    return s;
}
const std::set<Text>& negations() {
    static const auto s = word_set(
        "not no never nor none nothing nobody neither nowhere "
        "dont doesnt didnt isnt arent wasnt werent havent hasnt hadnt wont wouldnt cant couldnt "
        "shouldnt mustnt neednt shant aint");
    return s;
}
const std::set<Text>& number_words() {
    static const auto s = word_set(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
        "hundred thousand million billion trillion hundreds thousands millions billions "
        "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth "
        "once twice thrice dozen dozens half");
    return s;
}
const std::map<Text, std::vector<Text>>& compound_keys() {
    static const std::map<Text, std::vector<Text>> m = {
        {T("cannot"), {T("not")}}, {T("someone"), {T("one")}}, {T("anyone"), {T("one")}},
        {T("everyone"), {T("one")}}, {T("noone"), {T("no"), T("one")}}};
    return m;
}
// ABBREVIATIONS: abbreviation -> its expansions (sorted, as sorted(frozenset) lists them)
const std::map<Text, std::vector<Text>>& abbreviations() {
    static const std::map<Text, std::vector<Text>> m = [] {
        const char* table[][2] = {
            {"u", "you"}, {"ur", "your|you're"}, {"r", "are"}, {"k", "ok|okay"},
            {"pls", "please"}, {"plz", "please"}, {"thx", "thanks"}, {"thnx", "thanks"}, {"tnx", "thanks"},
            {"ty", "thank you"}, {"tmrw", "tomorrow"}, {"tmr", "tomorrow"}, {"tmw", "tomorrow"},
            {"b4", "before"}, {"bc", "because"}, {"cuz", "because"}, {"coz", "because"}, {"cos", "because"},
            {"ppl", "people"}, {"msg", "message"}, {"idk", "I don't know"}, {"btw", "by the way"},
            {"gr8", "great"}, {"l8r", "later"}, {"abt", "about"},
            {"wat", "what"}, {"wht", "what"}, {"bday", "birthday"}, {"rn", "right now"}, {"tho", "though"},
            {"thru", "through"}, {"nite", "night"}, {"becuz", "because"}, {"ya", "you"}, {"yr", "your|year"}};
        std::map<Text, std::vector<Text>> out;
        for (auto& row : table) {
            std::vector<Text> ex;
            Text cur;
            for (const char* p = row[1];; ++p) {
                if (*p == '|' || !*p) { ex.push_back(cur); cur.clear(); if (!*p) break; }
                else cur.push_back(char32_t(*p));
            }
            std::sort(ex.begin(), ex.end());
            out[T(row[0])] = ex;
        }
        return out;
    }();
    return m;
}

bool is_punct(const Text& t) {
    if (t.empty()) return false;
    for (char32_t c : t)
        if (!uni::is_punct(c)) return false;
    return true;
}

bool piece_char(char32_t c) { return uni::py_alnum(c) && !uni::py_decimal(c) && c != U'_'; }  // [^\W\d_]
bool apostrophe(char32_t c) { return c == U'\'' || c == U'\u2019'; }
bool ends_with(const Text& s, const Text& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// meaning_keys: the negations and number words of a token, in order
std::vector<Text> meaning_keys(const Text& tok) {
    std::vector<Text> out;
    for (size_t p = 0; p < tok.size();) {
        if (!piece_char(tok[p])) { ++p; continue; }
        size_t q = p;
        while (q < tok.size() && piece_char(tok[q])) ++q;
        while (q + 1 < tok.size() && apostrophe(tok[q]) && piece_char(tok[q + 1])) {
            q += 1;
            while (q < tok.size() && piece_char(tok[q])) ++q;
        }
        Text low = uni::lower(tok.substr(p, q - p)), key;
        for (char32_t c : low)
            if (!apostrophe(c)) key.push_back(c);
        auto comp = compound_keys().find(key);
        if (comp != compound_keys().end()) out.insert(out.end(), comp->second.begin(), comp->second.end());
        else if (negations().count(key) || number_words().count(key) || ends_with(low, T("n't")) ||
                 ends_with(low, U"n\u2019t"))
            out.push_back(key);
        p = q;
    }
    return out;
}

std::set<std::string> scripts(const Text& tok) {
    std::set<std::string> out;
    for (char32_t c : tok)
        if (uni::is_letter(c)) {
            const char* s = uni::script(c);
            out.insert(s ? s : "?");
        }
    return out;
}

Text join(const Toks& ts, const Text& sep) {
    Text out;
    for (size_t k = 0; k < ts.size(); ++k) { if (k) out += sep; out += ts[k]; }
    return out;
}

struct Unit { size_t i1, i2, j1, j2; };

}  // namespace

struct GuardRun {
    const Guard& g;
    const GuardConfig& cfg;

    int allowed_edits(size_t n_chars) const {
        if (long(n_chars) < cfg.min_word_len) return 0;
        double r = cfg.max_edit_ratio * double(n_chars);
        return std::min(cfg.max_edits, std::max(cfg.min_edits, int(r)));
    }

    bool short_word(const Text& core) const {
        return long(core.size()) <= cfg.short_word_len && short_words().count(uni::lower(core));
    }

    bool english(const Text& w) const { return g.english_.count(utf8_encode(w)) > 0; }

    bool misspelt(const Text& src, const std::vector<Text>& kx, const std::vector<Text>& ky) const {
        if (english(uni::lower(split_edges(src).core))) return false;
        if (ky.size() < kx.size()) return false;
        size_t r = 0;  // `k in rest` consumes the iterator up to the match
        for (const Text& k : kx) {
            if (!(negations().count(k) || number_words().count(k))) continue;
            bool found = false;
            while (r < ky.size()) if (ky[r++] == k) { found = true; break; }
            if (!found) return false;
        }
        return true;
    }

    bool keeps_meaning(const Toks& xs, const Toks& ys) const {
        std::vector<Text> kx, ky;
        for (auto& t : xs) for (auto& k : meaning_keys(t)) kx.push_back(k);
        for (auto& t : ys) for (auto& k : meaning_keys(t)) ky.push_back(k);
        if (kx != ky && !(xs.size() == 1 && misspelt(xs[0], kx, ky))) return false;
        std::vector<std::set<std::string>> sx, sy;
        std::set<std::string> ux, uy;
        for (auto& t : xs) { sx.push_back(scripts(t)); ux.insert(sx.back().begin(), sx.back().end()); }
        for (auto& t : ys) { sy.push_back(scripts(t)); uy.insert(sy.back().begin(), sy.back().end()); }
        if (!ux.empty() && !uy.empty() && ux != uy) return false;
        if (ux.empty()) for (auto& s : uy) if (s != "LATIN") return false;  // letters where none were typed
        for (auto& s : sy)
            if (s.size() > 1 && std::find(sx.begin(), sx.end(), s) == sx.end()) return false;
        return true;
    }

    // _word_cost; budget_chars < 0 means "the letters of src's core"
    Opt word_cost(const Text& src, const Text& dst, long budget_chars = -1) const {
        if (src == dst) return 0.0;
        if (is_punct(src) || is_punct(dst)) {
            bool ok = is_punct(src) && is_punct(dst) && long(std::max(src.size(), dst.size())) <= cfg.max_punct_len;
            return ok ? Opt(0.5) : std::nullopt;
        }
        Edges s = split_edges(src), d = split_edges(dst);
        if (s.lead != d.lead && long(std::max(s.lead.size(), d.lead.size())) > cfg.max_punct_len) return std::nullopt;
        if (s.trail != d.trail && long(std::max(s.trail.size(), d.trail.size())) > cfg.max_punct_len) return std::nullopt;
        size_t dist = osa_distance(uni::lower(s.core), uni::lower(d.core));
        if (dist && budget_chars < 0 && short_word(s.core)) return std::nullopt;
        if (long(dist) > allowed_edits(budget_chars < 0 ? s.core.size() : size_t(budget_chars))) return std::nullopt;
        return double(dist) + (s.core != d.core ? 0.1 : 0.0) + 0.1 * double((s.lead != d.lead) + (s.trail != d.trail));
    }

    Opt abbrev_cost(const Text& src, const Toks& ys) const {
        if (!cfg.expand_abbreviations) return std::nullopt;
        Edges s = split_edges(src);
        auto it = abbreviations().find(uni::lower(s.core));
        if (it == abbreviations().end()) return std::nullopt;
        for (auto& t : ys) if (is_punct(t)) return std::nullopt;
        Text pd = split_edges(ys[0]).lead, sd = split_edges(ys.back()).trail;
        Text all = join(ys, T(" "));
        long a = long(pd.size()), b = long(all.size()) - long(sd.size());
        Text w = a < b ? all.substr(a, b - a) : Text();
        Text wl = uni::lower(w);
        bool listed = false;
        for (auto& e : it->second) if (uni::lower(e) == wl) listed = true;
        if (!listed) return std::nullopt;
        if (s.lead != pd && long(std::max(s.lead.size(), pd.size())) > cfg.max_punct_len) return std::nullopt;
        if (s.trail != sd && long(std::max(s.trail.size(), sd.size())) > cfg.max_punct_len) return std::nullopt;
        return 1.0 + 0.5 * double(ys.size() - 1);
    }

    bool protected_ok(const Toks& xs, const Toks& ys) const {
        return protected_strings(join(xs, T(" "))) == protected_strings(join(ys, T(" ")));
    }

    static std::set<size_t> breaks(const Toks& ts) {
        std::set<size_t> out;
        size_t at = 0;
        for (size_t k = 0; k + 1 < ts.size(); ++k) { at += ts[k].size(); out.insert(at); }
        return out;
    }

    static Text letters(const Toks& ts, size_t a, size_t b) {
        Text out;
        for (size_t k = a; k < b; ++k) out += uni::lower(split_edges(ts[k]).core);
        return out;
    }
    static Text letters(const Toks& ts) { return letters(ts, 0, ts.size()); }

    long long count(const Text& w) const {
        auto it = g.english_.find(utf8_encode(w));
        return it == g.english_.end() ? 0 : it->second;
    }

    // _commoner_break: only the breaks moved, and the rarest word made is commoner than the rarest typed
    bool commoner_break(const Toks& xs, const Toks& ys) const {
        if (letters(xs) != letters(ys)) return false;
        auto rarest = [&](const Toks& ts) {
            long long r = std::numeric_limits<long long>::max();
            for (auto& t : ts) r = std::min(r, count(uni::lower(split_edges(t).core)));
            return r;
        };
        return rarest(ys) > rarest(xs);
    }

    // _hidden_word: a whole word added or dropped at either end, the rest only re-broken
    static bool hidden_word(const Toks& xs, const Toks& ys) {
        for (int s = 0; s < 2; ++s) {
            const Toks& side = s ? ys : xs;
            Text other = letters(s ? xs : ys);
            if (side.size() > 1 && (other == letters(side, 1, side.size()) || other == letters(side, 0, side.size() - 1)))
                return true;
        }
        return false;
    }

    Opt resegment_cost(const Toks& xs, const Toks& ys) const {
        for (auto& t : xs) if (is_punct(t)) return std::nullopt;
        for (auto& t : ys) if (is_punct(t)) return std::nullopt;
        if (hidden_word(xs, ys)) return std::nullopt;
        size_t n = xs.size(), m = ys.size();
        if (n == m) {
            auto bx = breaks(xs), by = breaks(ys);
            for (size_t b : bx) if (by.count(b)) return std::nullopt;
            std::set<Text> ys_cores;
            for (auto& t : ys) ys_cores.insert(uni::lower(split_edges(t).core));
            bool lost = false;
            for (auto& t : xs) {
                Text c = split_edges(t).core;
                if (short_word(c) && !ys_cores.count(uni::lower(c))) lost = true;
            }
            if (lost && !commoner_break(xs, ys)) return std::nullopt;
        }
        const Toks& many = n >= m ? xs : ys;
        size_t shorter = std::numeric_limits<size_t>::max();
        for (auto& t : many) shorter = std::min(shorter, split_edges(t).core.size());
        Text jx, jy;
        for (auto& t : xs) jx += t;
        for (auto& t : ys) jy += t;
        Opt c = word_cost(jx, jy, long(shorter));
        if (!c) return std::nullopt;
        return *c + 0.5 * double(n + m - 2);
    }

    bool is_doubled(const Toks& x, size_t i) const {
        Text core = uni::lower(split_edges(x[i]).core);
        if (core.empty()) return false;
        for (long k : {long(i) - 1, long(i) + 1})
            if (k >= 0 && size_t(k) < x.size() && uni::lower(split_edges(x[k]).core) == core) return true;
        return false;
    }

    Opt shape_cost(const Toks& x, const Toks& xs, const Toks& ys, const Unit& u) const {
        size_t n = xs.size(), m = ys.size();
        if (n == 1 && m == 1) if (Opt c = word_cost(xs[0], ys[0])) return c;
        if (n == 0 || m == 0) {
            const Toks& toks = n ? xs : ys;
            bool all = true;
            for (auto& t : toks) all = all && is_punct(t) && long(t.size()) <= cfg.max_punct_len;
            if (all) return 0.5 * double(toks.size());
            if (m == 0 && n == 1 && cfg.allow_duplicate_removal && is_doubled(x, u.i1)) return 1.0;
            return std::nullopt;
        }
        if (n == 1) if (Opt c = abbrev_cost(xs[0], ys)) return c;
        if (cfg.allow_merge_split && long(std::max(n, m)) <= cfg.max_resegment) return resegment_cost(xs, ys);
        return std::nullopt;
    }

    Opt unit_cost(const Toks& x, const Toks& y, const Unit& u) const {
        Toks xs(x.begin() + u.i1, x.begin() + u.i2), ys(y.begin() + u.j1, y.begin() + u.j2);
        if (xs == ys) return 0.0;
        for (auto& t : xs) if (long(t.size()) > cfg.max_word_chars) return std::nullopt;
        for (auto& t : ys) if (long(t.size()) > cfg.max_word_chars) return std::nullopt;
        Opt cost = shape_cost(x, xs, ys, u);
        if (!cost) return std::nullopt;
        if (!keeps_meaning(xs, ys) && !(xs.size() == 1 && !ys.empty() && abbrev_cost(xs[0], ys))) return std::nullopt;
        return protected_ok(xs, ys) ? cost : std::nullopt;
    }

    // _block_cost_fn + _block_units: the DP that splits a changed block into units
    std::vector<Unit> block_units(const Toks& x, const Toks& y, size_t i1, size_t i2, size_t j1, size_t j2) const {
        size_t n = i2 - i1, m = j2 - j1;
        if (n == 1 && m == 1 && unit_cost(x, y, {i1, i2, j1, j2})) return {{i1, i2, j1, j2}};
        if (double(n) * double(m) > double(cfg.max_block_cells)) {
            std::vector<Unit> out;
            for (Unit u : {Unit{i1, i2, j1, j1}, Unit{i2, i2, j1, j2}})
                if (u.i1 < u.i2 || u.j1 < u.j2) out.push_back(u);
            return out;
        }
        std::vector<Edges> xe, ye;
        std::vector<bool> xlong, ylong;
        for (size_t k = i1; k < i2; ++k) { xe.push_back(split_edges(x[k])); xlong.push_back(long(x[k].size()) > cfg.max_word_chars); }
        for (size_t k = j1; k < j2; ++k) { ye.push_back(split_edges(y[k])); ylong.push_back(long(y[k].size()) > cfg.max_word_chars); }
        std::vector<Text> xc(n), yc(m);
        for (size_t k = 0; k < n; ++k) xc[k] = xlong[k] ? Text() : uni::lower(xe[k].core);
        for (size_t k = 0; k < m; ++k) yc[k] = ylong[k] ? Text() : uni::lower(ye[k].core);
        std::vector<std::vector<size_t>> dist(n, std::vector<size_t>(m));
        for (size_t a = 0; a < n; ++a) for (size_t b = 0; b < m; ++b) dist[a][b] = osa_distance(xc[a], yc[b]);
        std::vector<int> budget(n);
        std::vector<bool> abbrev(n);
        for (size_t a = 0; a < n; ++a) {
            budget[a] = allowed_edits(xc[a].size());
            abbrev[a] = cfg.expand_abbreviations && abbreviations().count(xc[a]);
        }
        std::vector<size_t> xlen(n + 1, 0), ylen(m + 1, 0), xbig(n + 1, 0), ybig(m + 1, 0);
        for (size_t k = 0; k < n; ++k) { xlen[k + 1] = xlen[k] + x[i1 + k].size(); xbig[k + 1] = xbig[k] + xlong[k]; }
        for (size_t k = 0; k < m; ++k) { ylen[k + 1] = ylen[k] + y[j1 + k].size(); ybig[k + 1] = ybig[k] + ylong[k]; }
        auto inner = [](const std::vector<Edges>& e, const std::vector<size_t>& lens, size_t k, size_t cnt) {
            return long(lens[k + cnt] - lens[k]) - long(e[k].lead.size()) - long(e[k + cnt - 1].trail.size());
        };
        auto hopeless = [&](size_t a, size_t b, size_t da, size_t db) {
            if (!(da && db)) return false;
            if (xbig[a + da] - xbig[a] || ybig[b + db] - ybig[b]) return true;
            if (da == 1 && abbrev[a]) return false;
            if (da == 1 && db == 1) return long(dist[a][b]) > budget[a];
            if (long(std::max(da, db)) > cfg.max_resegment || !cfg.allow_merge_split) return true;
            size_t shortest = std::numeric_limits<size_t>::max();
            if (da >= db) for (size_t k = a; k < a + da; ++k) shortest = std::min(shortest, xe[k].core.size());
            else for (size_t k = b; k < b + db; ++k) shortest = std::min(shortest, ye[k].core.size());
            return std::labs(inner(xe, xlen, a, da) - inner(ye, ylen, b, db)) > allowed_edits(shortest);
        };
        std::map<std::array<long, 4>, double> memo;
        auto cost = [&](size_t a, size_t b, size_t da, size_t db) {
            std::array<long, 4> key{da ? long(a) : -1, db ? long(b) : -1, long(da), long(db)};
            auto it = memo.find(key);
            if (it != memo.end()) return it->second;
            Opt c = hopeless(a, b, da, db) ? std::nullopt : unit_cost(x, y, {i1 + a, i1 + a + da, j1 + b, j1 + b + db});
            double v = c ? *c : kReject * double(da + db);
            memo[key] = v;
            return v;
        };
        static const std::vector<std::pair<size_t, size_t>> shapes = [] {
            std::vector<std::pair<size_t, size_t>> s;
            for (size_t da = 0; da < 5; ++da)
                for (size_t db = 0; db < 5; ++db)
                    if (!(da == 0 && db == 0) && (da + db == 1 || (da && db))) s.emplace_back(da, db);
            return s;
        }();
        const double inf = std::numeric_limits<double>::infinity();
        std::vector<std::vector<double>> best(n + 1, std::vector<double>(m + 1, inf));
        std::vector<std::vector<std::pair<size_t, size_t>>> back(n + 1, std::vector<std::pair<size_t, size_t>>(m + 1));
        best[0][0] = 0.0;
        for (size_t a = 0; a <= n; ++a)
            for (size_t b = 0; b <= m; ++b) {
                double here = best[a][b];
                if (here == inf) continue;
                for (auto [da, db] : shapes) {
                    if (a + da > n || b + db > m) continue;
                    double c = cost(a, b, da, db);
                    if (here + c < best[a + da][b + db]) {
                        best[a + da][b + db] = here + c;
                        back[a + da][b + db] = {da, db};
                    }
                }
            }
        std::vector<Unit> units;
        size_t a = n, b = m;
        while (a || b) {
            auto [da, db] = back[a][b];
            units.push_back({i1 + a - da, i1 + a, j1 + b - db, j1 + b});
            a -= da;
            b -= db;
        }
        std::reverse(units.begin(), units.end());
        // _overwrites: a refused inserted word beside an accepted deletion is one word the model
        // wrote over ("it it" -> "іt it"), not a word it dropped: one (refused) replacement
        auto kind = [&](const Unit& u) {
            size_t da = u.i2 - u.i1, db = u.j2 - u.j1;
            if (da == 1 && db == 0 && cost(u.i1 - i1, u.j1 - j1, 1, 0) < kReject) return 1;  // kept delete
            if (da == 0 && db == 1 && cost(u.i1 - i1, u.j1 - j1, 0, 1) >= kReject) return 2;  // refused insert
            return 0;
        };
        std::vector<Unit> out;
        for (Unit u : units) {
            if (!out.empty() && kind(out.back()) + kind(u) == 3) {  // one of each
                Unit v = out.back();
                out.pop_back();
                u = {std::min(v.i1, u.i1), std::max(v.i2, u.i2), std::min(v.j1, u.j1), std::max(v.j2, u.j2)};
            }
            out.push_back(u);
        }
        return out;
    }

    std::vector<Opcode> opcodes(const Toks& x, const Toks& y) const {
        std::unordered_map<Text, int> ids;
        auto idlist = [&](const Toks& ts, size_t from, size_t to) {
            std::vector<int> out;
            for (size_t k = from; k < to; ++k) out.push_back(ids.emplace(ts[k], int(ids.size())).first->second);
            return out;
        };
        size_t w = size_t(cfg.align_window);
        if (x.size() <= w && y.size() <= w) return levenshtein_opcodes(idlist(x, 0, x.size()), idlist(y, 0, y.size()));
        std::vector<Opcode> out;
        size_t i = 0, j = 0;
        while (i < x.size() || j < y.size()) {
            size_t xe = std::min(x.size(), i + w), ye = std::min(y.size(), j + w);
            auto ops = levenshtein_opcodes(idlist(x, i, xe), idlist(y, j, ye));
            if (!(xe == x.size() && ye == y.size())) {
                std::vector<Opcode> kept;
                for (auto& op : ops) if (op.i2 <= w / 2 && op.j2 <= w / 2) kept.push_back(op);
                if (kept.empty()) kept.assign(ops.begin(), ops.begin() + std::min<size_t>(1, ops.size()));
                ops = kept;
            }
            for (auto& op : ops) out.push_back({op.tag, i + op.i1, i + op.i2, j + op.j1, j + op.j2});
            i = out.back().i2;
            j = out.back().j2;
        }
        return out;
    }

    static Toks split_ws(const Text& s) { return words(s, tokenize(s)); }

    std::vector<Opcode> expanded_opcodes(const Toks& x, const Toks& y) const {
        std::vector<std::optional<Toks>> grown(x.size());
        bool any = false;
        for (size_t k = 0; k < x.size(); ++k) {
            if (!cfg.expand_abbreviations) continue;
            auto it = abbreviations().find(uni::lower(split_edges(x[k]).core));
            if (it == abbreviations().end()) continue;
            const Text& first = it->second[0];
            if (first.find(U' ') != Text::npos) { grown[k] = split_ws(first); any = true; }
        }
        if (!any) return opcodes(x, y);
        Toks xs;
        std::vector<size_t> owner;
        for (size_t k = 0; k < x.size(); ++k) {
            if (grown[k]) for (auto& t : *grown[k]) { xs.push_back(t); owner.push_back(k); }
            else { xs.push_back(x[k]); owner.push_back(k); }
        }
        std::vector<Opcode> out;
        for (const Opcode& op : opcodes(xs, y)) {
            if (op.tag != Opcode::Equal) {
                size_t lo = op.i1 < owner.size() ? owner[op.i1] : x.size();
                out.push_back({Opcode::Replace, lo, op.i2 > op.i1 ? owner[op.i2 - 1] + 1 : lo, op.j1, op.j2});
                continue;
            }
            size_t p = op.i1;
            while (p < op.i2) {
                size_t q = p;
                bool plain = !grown[owner[p]];
                while (q < op.i2 && (!grown[owner[q]]) == plain) ++q;
                out.push_back({plain ? Opcode::Equal : Opcode::Replace, owner[p], owner[q - 1] + 1,
                               op.j1 + p - op.i1, op.j1 + q - op.i1});
                p = q;
            }
        }
        return out;
    }

    std::vector<Unit> align(const Toks& x, const Toks& y) const {
        std::vector<Unit> units;
        std::optional<Unit> pending;
        for (const Opcode& op : expanded_opcodes(x, y)) {
            if (op.tag == Opcode::Equal) {
                if (pending) {
                    auto b = block_units(x, y, pending->i1, pending->i2, pending->j1, pending->j2);
                    units.insert(units.end(), b.begin(), b.end());
                    pending.reset();
                }
                units.push_back({op.i1, op.i2, op.j1, op.j2});
            } else if (!pending) {
                pending = Unit{op.i1, op.i2, op.j1, op.j2};
            } else {
                pending->i2 = op.i2;
                pending->j2 = op.j2;
            }
        }
        if (pending) {
            auto b = block_units(x, y, pending->i1, pending->i2, pending->j1, pending->j2);
            units.insert(units.end(), b.begin(), b.end());
        }
        return units;
    }

    // _rebuild: accepted units from the output, the rest from the input; a mark the output put
    // after a kept word right before refused wording goes (to the end, if that wording ends the text)
    static Text rebuild(const Text& inp, const Text& out, const std::vector<Span>& xsp, const std::vector<Span>& ysp,
                        const std::vector<Unit>& units, const std::vector<bool>& ok) {
        auto tok = [](const Text& text, const std::vector<Span>& spans, size_t i) {
            return text.substr(spans[i].first, spans[i].second - spans[i].first);
        };
        auto wording = [&](const Unit& v) {
            for (size_t i = v.i1; i < v.i2; ++i) if (!split_edges(tok(inp, xsp, i)).core.empty()) return true;
            for (size_t j = v.j1; j < v.j2; ++j) if (!split_edges(tok(out, ysp, j)).core.empty()) return true;
            return false;
        };
        auto final_marks = [](const Text& t) {
            return !t.empty() && std::all_of(t.begin(), t.end(), [](char32_t c) { return c == U'.' || c == U'?' || c == U'!'; });
        };
        long last = -1;
        for (size_t k = 0; k < units.size(); ++k)
            if (ok[k] ? units[k].j1 < units[k].j2 : units[k].i1 < units[k].i2) last = long(k);
        Text pieces, moved;
        bool any = false;
        for (size_t k = 0; k < units.size(); ++k) {
            const Unit& u = units[k];
            bool acc = ok[k];
            const Text& src = acc ? out : inp;
            const std::vector<Span>& spans = acc ? ysp : xsp;
            size_t a = acc ? u.j1 : u.i1, b = acc ? u.j2 : u.i2;
            if (a == b) continue;
            if (any) {
                Text sep = a > 0 ? src.substr(spans[a - 1].second, spans[a].first - spans[a - 1].second) : T(" ");
                pieces += sep.empty() ? T(" ") : sep;
            }
            Text piece = src.substr(spans[a].first, spans[b - 1].second - spans[a].first);
            if (acc && u.i1 < u.i2 && k + 1 < units.size() && !ok[k + 1] && wording(units[k + 1])) {
                Text xt = split_edges(tok(inp, xsp, u.i2 - 1)).trail, yt = split_edges(tok(out, ysp, u.j2 - 1)).trail;
                bool final = final_marks(yt);  // before a refused added sentence the kept one keeps its end
                if (xt != yt && (units[k + 1].i1 < units[k + 1].i2 || !final)) {
                    piece = piece.substr(0, piece.size() - yt.size()) + xt;
                    if (long(k + 1) == last && final && xt.empty()) moved = yt;
                }
            }
            pieces += piece;
            any = true;
        }
        if (!moved.empty()) {
            auto sp = tokenize(pieces);
            if (!sp.empty() && split_edges(tok(pieces, sp, sp.size() - 1)).trail.empty()) pieces += moved;
        }
        Text lead = xsp.empty() ? inp : inp.substr(0, xsp[0].first);
        Text trail = xsp.empty() ? Text() : inp.substr(xsp.back().second);
        return lead + pieces + trail;
    }

    static std::set<size_t> protected_tokens(const Text& text, const std::vector<Span>& spans) {
        std::set<size_t> out;
        size_t k = 0;
        for (const Span& p : protected_spans(text)) {
            while (k < spans.size() && spans[k].second <= p.first) ++k;
            for (size_t t = k; t < spans.size() && spans[t].first < p.second; ++t) out.insert(t);
        }
        return out;
    }

    static bool touches(const std::set<size_t>& idx, size_t a, size_t b) {
        for (long k = long(a) - 1; k < long(b) + 1; ++k)
            if (k >= 0 && idx.count(size_t(k))) return true;
        return false;
    }

    // _unborrowed: a kept re-segmentation beside a refused lone word whose letters it moved is reverted
    std::vector<bool> unborrowed(const Toks& x, const Toks& y, const std::vector<Unit>& units,
                                 const std::vector<bool>& ok) const {
        std::vector<bool> out(ok);
        for (size_t k = 0; k < units.size(); ++k) {
            const Unit& u = units[k];
            Toks xs(x.begin() + u.i1, x.begin() + u.i2), ys(y.begin() + u.j1, y.begin() + u.j2);
            if (!ok[k] || xs.empty() || ys.empty() || xs.size() + ys.size() <= 2 || xs == ys) continue;
            size_t alone = osa_distance(letters(xs), letters(ys));
            for (long nb : {long(k) - 1, long(k) + 1}) {
                if (nb < 0 || size_t(nb) >= units.size() || ok[size_t(nb)]) continue;
                const Unit& v = units[size_t(nb)];
                Toks lx(x.begin() + v.i1, x.begin() + v.i2), ly(y.begin() + v.j1, y.begin() + v.j2);
                if ((!lx.empty() && !ly.empty()) || (letters(lx).empty() && letters(ly).empty())) continue;
                Toks bx, by;
                if (nb < long(k)) {
                    bx = lx; bx.insert(bx.end(), xs.begin(), xs.end());
                    by = ly; by.insert(by.end(), ys.begin(), ys.end());
                } else {
                    bx = xs; bx.insert(bx.end(), lx.begin(), lx.end());
                    by = ys; by.insert(by.end(), ly.begin(), ly.end());
                }
                if (osa_distance(letters(bx), letters(by)) <= alone) out[k] = false;
            }
        }
        return out;
    }

    static std::vector<bool> anchor_punct(const std::vector<Unit>& units, const std::vector<bool>& ok) {
        auto anchored = [&](size_t k) { const Unit& u = units[k]; return ok[k] && u.i1 < u.i2 && u.j1 < u.j2; };
        std::vector<bool> out(ok);
        for (size_t k = 0; k < units.size(); ++k) {
            const Unit& u = units[k];
            if (ok[k] && (u.i1 == u.i2 || u.j1 == u.j2) && (u.i1 < u.i2 || u.j1 < u.j2))
                out[k] = (k > 0 && anchored(k - 1)) || (k + 1 < units.size() && anchored(k + 1));
        }
        return out;
    }

    Text guard_once(const Text& inp, const Text& out, const std::vector<Text>& want) const {
        auto xsp = tokenize(inp), ysp = tokenize(out);
        Toks x = words(inp, xsp), y = words(out, ysp);
        auto units = align(x, y);
        std::vector<bool> ok;
        for (const Unit& u : units) ok.push_back(unit_cost(x, y, u).has_value());
        ok = anchor_punct(units, unborrowed(x, y, units, ok));
        size_t rejected = 0;
        for (size_t k = 0; k < units.size(); ++k) if (!ok[k]) rejected += units[k].i2 - units[k].i1;
        if (double(rejected) > cfg.max_rejected_share * double(x.size())) return inp;
        bool all = std::all_of(ok.begin(), ok.end(), [](bool b) { return b; });
        Text result = all ? out : rebuild(inp, out, xsp, ysp, units, ok);
        if (result == inp || protected_strings(result) == want) return result;
        auto px = protected_tokens(inp, xsp), py = protected_tokens(out, ysp);
        for (size_t k = 0; k < units.size(); ++k)
            ok[k] = ok[k] && !(touches(px, units[k].i1, units[k].i2) || touches(py, units[k].j1, units[k].j2));
        result = rebuild(inp, out, xsp, ysp, units, ok);
        return protected_strings(result) == want ? result : inp;
    }
};

void GuardConfig::check() const {
    auto need = [](bool ok, const std::string& why) { if (!ok) throw GuardError(why); };
    need(max_edit_ratio >= 0.0 && max_edit_ratio <= 1.0, "guard.max_edit_ratio must be in [0, 1]");
    need(0 <= min_edits && min_edits <= max_edits, "guard: need 0 <= min_edits <= max_edits");
    need(min_word_len >= 1, "guard.min_word_len must be >= 1");
    need(max_punct_len >= 0, "guard.max_punct_len must be >= 0");
    need(max_block_cells >= 1, "guard.max_block_cells must be >= 1");
    need(max_word_chars >= 1, "guard.max_word_chars must be >= 1");
    need(align_window >= 16, "guard.align_window must be >= 16");
    need(max_resegment >= 2 && max_resegment <= 4, "guard.max_resegment must be in [2, 4]");
    need(short_word_len >= 0 && short_word_len <= 3, "guard.short_word_len must be in [0, 3]");
    need(max_rejected_share >= 0.0 && max_rejected_share <= 1.0, "guard.max_rejected_share must be in [0, 1]");
}

Guard::Guard(const std::string& english_words_path, GuardConfig cfg) : cfg_(cfg) {
    cfg_.check();
    std::ifstream in(english_words_path, std::ios::binary);
    if (!in) throw GuardError("English word list " + english_words_path + ": cannot be opened");
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        // Python's line.partition(" ") and int(count) when count is all ASCII digits, else 0
        size_t sp = line.find(' ');
        std::string word = line.substr(0, sp), count = sp == std::string::npos ? "" : line.substr(sp + 1);
        bool digits = !count.empty() && count.size() <= 18 &&
                      std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; });
        english_.emplace(word, digits ? std::stoll(count) : 0);
    }
    if (english_.empty()) throw GuardError("English word list " + english_words_path + ": no words in it");
}

Text calm(const Text& input, const Text& output) {
    if (input.find(U'!') != Text::npos || output.find(U'!') == Text::npos) return output;
    Text out;
    for (size_t i = 0; i < output.size();) {
        if (output[i] != U'!') { out.push_back(output[i++]); continue; }
        // a run of '!' (Python: (\?)?!+): after a '?' it goes, else it becomes one '.'
        bool after_question = i > 0 && output[i - 1] == U'?';
        while (i < output.size() && output[i] == U'!') ++i;
        if (!after_question) out.push_back(U'.');
    }
    return out;
}

bool is_abbreviation(const Text& key) { return abbreviations().count(key) > 0; }

std::vector<size_t> Guard::refused_words(const Text& input, const Text& output) const {
    if (output == input) return {};
    GuardRun run{*this, cfg_};
    Toks x = words(input, tokenize(input)), y = words(output, tokenize(output));
    auto units = run.align(x, y);
    std::vector<bool> ok;  // _judged: unit_cost alone (no _anchor_punct, unlike _guard_once)
    for (const Unit& u : units) ok.push_back(run.unit_cost(x, y, u).has_value());
    ok = run.unborrowed(x, y, units, ok);
    size_t rejected = 0;
    for (size_t k = 0; k < units.size(); ++k) if (!ok[k]) rejected += units[k].i2 - units[k].i1;
    if (double(rejected) > cfg_.max_rejected_share * double(x.size())) return {};
    std::vector<size_t> out;
    for (size_t k = 0; k < units.size(); ++k)
        if (!ok[k] && units[k].i2 - units[k].i1 == 1 && units[k].j2 - units[k].j1 == 1) out.push_back(units[k].i1);
    return out;
}

Text Guard::guard(const Text& input, const Text& output) const {
    if (output == input) return output;
    Text current = cfg_.add_exclamation ? output : calm(input, output);
    if (current == input) return current;
    GuardRun run{*this, cfg_};
    std::vector<Text> want = protected_strings(input);
    for (int k = 0; k < 8; ++k) {  // iterate to a fixed point so the guard is idempotent
        Text next = run.guard_once(input, current, want);
        if (next == current || next == input) return next;
        current = next;
    }
    return input;
}

std::string Guard::guard(const std::string& input, const std::string& output) const {
    Text in, out;
    if (!utf8_decode(input, in)) throw Utf8Error("the input is not valid UTF-8");
    if (!utf8_decode(output, out)) throw Utf8Error("the output is not valid UTF-8");
    return utf8_encode(guard(in, out));
}

}  // namespace tc
