// tc_tool: the library over JSON Lines on stdin/stdout, for the differential tests and the
// bench (tests/test_corrector_cpp.py, bench/bench_corrector_cpp.py).
//   tc_tool encode TOKENIZER.json        {"text": s}              -> {"ids": [...], "decoded": s'}
//   tc_tool prompt METADATA.json WORDS   {"text": s}              -> {"ids": [...]}
//   tc_tool guard WORDS [ALIGN_WINDOW]   {"input": s, "output": s} -> {"guarded": s}
//   tc_tool opcodes                      {"a": [int], "b": [int]}  -> {"ops": [[tag, i1, i2, j1, j2]]}
//   tc_tool bench METADATA.json WORDS    {"input": s, "output": s} -> {"encode_us": t, "guard_us": t}
//   tc_tool lookup DICT                  {"word": s, "max": n} -> {"terms": [[term, distance, count]]}
//   tc_tool dictpass META WORDS DICT MISSP|- [key=value...]
//       {"input": s, "raw": s, "max_len": n, "calls": [{"prefix": [..], "conts": [[..]], "scores": [..]}]}
//       -> {"output": s, "needed": b, "changes": [s], "calls": n} with a scorer that replays
//       "calls" (Python's recorded scorer calls); a query not among them -> {"error": ...}
//   tc_tool masked                       {"input": s, "words": [s], "mask": s} -> {"masked": s}
//   tc_tool dictbench (same arguments and lines) -> {"pass_us": t, "score_us": t}: the pass's own
//       cost (candidates, guard, tokenizing) apart from the scorer's
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include <map>

#include "align.hpp"
#include "corrector.hpp"
#include "dictpass.hpp"
#include "json.hpp"

namespace {

std::string quote(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); out += b; }
        else out.push_back(char(c));
    }
    return out + "\"";
}

std::string ids_json(const std::vector<int32_t>& ids) {
    std::string out = "[";
    for (size_t k = 0; k < ids.size(); ++k) out += (k ? "," : "") + std::to_string(ids[k]);
    return out + "]";
}

const std::string& field(const tc::Json& j, const char* key) {
    const tc::Json* v = j.get(key);
    if (!v) throw tc::JsonError(std::string("missing key ") + key);
    return v->as_string(key);
}

std::vector<int> ints(const tc::Json& j, const char* key) {
    std::vector<int> out;
    for (const tc::Json& v : j.get(key)->arr) out.push_back(int(v.as_int(key)));
    return out;
}

double us_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
}

tc::DictConfig dict_config(int argc, char** argv, int from) {
    tc::DictConfig cfg;
    for (int k = from; k < argc; ++k) {
        std::string kv = argv[k];
        size_t eq = kv.find('=');
        if (eq == std::string::npos) throw std::runtime_error("expected key=value, got " + kv);
        std::string key = kv.substr(0, eq);
        if (key == "context" || key == "mask") {  // the two text options; the rest are numbers
            (key == "context" ? cfg.context : cfg.mask) = kv.substr(eq + 1);
            continue;
        }
        double v = std::stod(kv.substr(eq + 1));
        if (key == "margin") cfg.margin = v;
        else if (key == "tie_margin") cfg.tie_margin = v;
        else if (key == "max_edit_distance") cfg.max_edit_distance = int(v);
        else if (key == "max_candidates") cfg.max_candidates = int(v);
        else if (key == "max_words") cfg.max_words = int(v);
        else if (key == "min_word_len") cfg.min_word_len = int(v);
        else if (key == "edit_weight") cfg.edit_weight = v;
        else if (key == "list_bonus") cfg.list_bonus = v;
        else if (key == "refused_words") cfg.refused_words = v != 0;
        else if (key == "splits") cfg.splits = v != 0;
        else if (key == "merges") cfg.merges = v != 0;
        else if (key == "min_part_count") cfg.min_part_count = int64_t(v);
        else throw std::runtime_error("unknown dictionary option " + key);
    }
    return cfg;
}

// The recorded scorer calls of one request: (prefix, continuations) -> scores.
using Calls = std::map<std::pair<std::vector<int>, std::vector<std::vector<int>>>, std::vector<double>>;

std::vector<int> int_list(const tc::Json& arr) {
    std::vector<int> out;
    for (const tc::Json& v : arr.arr) out.push_back(int(v.as_int("id")));
    return out;
}

Calls read_calls(const tc::Json& j) {
    Calls calls;
    const tc::Json* list = j.get("calls");
    for (const tc::Json& c : list ? list->arr : std::vector<tc::Json>{}) {
        std::vector<std::vector<int>> conts;
        for (const tc::Json& x : c.get("conts")->arr) conts.push_back(int_list(x));
        std::vector<double> scores;
        for (const tc::Json& x : c.get("scores")->arr) scores.push_back(x.num);
        calls[{int_list(*c.get("prefix")), conts}] = scores;
    }
    return calls;
}

tc::Text text_of(const std::string& s) {
    tc::Text t;
    if (!tc::utf8_decode(s, t)) throw std::runtime_error("not UTF-8: " + s);
    return t;
}

struct Unrecorded : std::runtime_error { using std::runtime_error::runtime_error; };

std::string dict_line(const tc::DictionaryPass& dp, const tc::Json& j, bool bench) {
    Calls calls = read_calls(j);
    size_t used = 0;
    double score_us = 0;
    tc::ScoreFn score = [&](const std::vector<int32_t>& prefix, const std::vector<std::vector<int32_t>>& conts) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::vector<int>> key_conts(conts.begin(), conts.end());
        auto it = calls.find({std::vector<int>(prefix.begin(), prefix.end()), key_conts});
        if (it == calls.end()) throw Unrecorded("the pass asked the scorer something Python did not");
        ++used;
        score_us += us_since(t0);
        return it->second;
    };
    size_t max_len = size_t(j.get("max_len")->as_int("max_len"));
    auto t0 = std::chrono::steady_clock::now();
    tc::PassResult r;
    try {
        r = dp.run(field(j, "input"), field(j, "raw"), score, max_len);
    } catch (const Unrecorded& e) {
        return std::string("{\"error\":") + quote(e.what()) + "}";
    }
    double total = us_since(t0);
    if (bench) return "{\"pass_us\":" + std::to_string(total - score_us) + ",\"score_us\":" + std::to_string(score_us) + "}";
    std::string changes = "[";
    for (size_t k = 0; k < r.changes.size(); ++k) changes += (k ? "," : "") + quote(r.changes[k]);
    return "{\"output\":" + quote(r.output) + ",\"needed\":" + (r.needed ? "true" : "false") +
           ",\"changes\":" + changes + "],\"calls\":" + std::to_string(used) + "}";
}

int run(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    std::unique_ptr<tc::Tokenizer> tok;
    std::unique_ptr<tc::Corrector> corr;
    std::unique_ptr<tc::Guard> guard;
    std::unique_ptr<tc::DictionaryPass> dict;
    std::unique_ptr<tc::SymSpell> sym;
    if (mode == "encode" && argc == 3) tok = std::make_unique<tc::Tokenizer>(tc::Tokenizer::from_file(argv[2]));
    else if ((mode == "prompt" || mode == "bench") && argc == 4) corr = std::make_unique<tc::Corrector>(argv[2], argv[3]);
    else if (mode == "guard" && (argc == 3 || argc == 4)) {
        tc::GuardConfig cfg;
        if (argc == 4) cfg.align_window = std::stoi(argv[3]);
        guard = std::make_unique<tc::Guard>(argv[2], cfg);
    }
    else if (mode == "lookup" && argc == 3) sym = std::make_unique<tc::SymSpell>(argv[2]);
    else if ((mode == "dictpass" || mode == "dictbench") && argc >= 6) {
        corr = std::make_unique<tc::Corrector>(argv[2], argv[3]);
        dict = std::make_unique<tc::DictionaryPass>(*corr, argv[4], std::string(argv[5]) == "-" ? "" : argv[5],
                                                    dict_config(argc, argv, 6));
    }
    else if ((mode != "opcodes" && mode != "masked") || argc != 2) {
        std::cerr << "usage: tc_tool encode TOKENIZER.json | prompt META.json WORDS | guard WORDS [ALIGN_WINDOW] | opcodes"
                     " | bench META.json WORDS | lookup DICT | masked | dictpass|dictbench META.json WORDS DICT MISSPELLINGS|- [key=value...]"
                     " (JSON Lines on stdin)\n";
        return 2;
    }
    std::string line;
    std::ios::sync_with_stdio(false);
    while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        tc::Json j = tc::parse_json(line);
        if (sym) {
            tc::Text w;
            tc::utf8_decode(field(j, "word"), w);
            std::string out = "[";
            for (const auto& s : sym->lookup_all(w, int(j.get("max")->as_int("max"))))
                out += std::string(out.size() > 1 ? "," : "") + "[" + quote(tc::utf8_encode(s.term)) + "," +
                       std::to_string(s.distance) + "," + std::to_string(s.count) + "]";
            std::cout << "{\"terms\":" << out << "]}\n";
        } else if (dict) {
            std::cout << dict_line(*dict, j, mode == "dictbench") << "\n" << std::flush;
        } else if (tok) {
            auto ids = tok->encode(field(j, "text"));
            std::cout << "{\"ids\":" << ids_json(ids) << ",\"decoded\":" << quote(tok->decode(ids, true)) << "}\n";
        } else if (mode == "prompt") {
            std::cout << "{\"ids\":" << ids_json(corr->prompt_ids(field(j, "text"))) << "}\n";
        } else if (guard) {
            std::cout << "{\"guarded\":" << quote(guard->guard(field(j, "input"), field(j, "output"))) << "}\n";
        } else if (mode == "masked") {
            std::vector<tc::Text> words;
            for (const tc::Json& w : j.get("words")->arr) words.push_back(text_of(w.as_string("words")));
            tc::Text out = tc::masked(text_of(field(j, "input")), words, text_of(field(j, "mask")));
            std::cout << "{\"masked\":" << quote(tc::utf8_encode(out)) << "}\n";
        } else if (mode == "bench") {
            auto t0 = std::chrono::steady_clock::now();
            auto ids = corr->prompt_ids(field(j, "input"));
            double enc = us_since(t0);
            auto t1 = std::chrono::steady_clock::now();
            std::string g = corr->guard(field(j, "input"), field(j, "output"));
            double gd = us_since(t1);
            std::cout << "{\"encode_us\":" << enc << ",\"guard_us\":" << gd << ",\"prompt_tokens\":" << ids.size() << "}\n";
        } else {
            std::string out = "[";
            bool first = true;
            static const char* names[] = {"equal", "replace", "insert", "delete"};
            for (const tc::Opcode& op : tc::levenshtein_opcodes(ints(j, "a"), ints(j, "b"))) {
                out += std::string(first ? "" : ",") + "[\"" + names[op.tag] + "\"," + std::to_string(op.i1) + "," +
                       std::to_string(op.i2) + "," + std::to_string(op.j1) + "," + std::to_string(op.j2) + "]";
                first = false;
            }
            std::cout << "{\"ops\":" << out << "]}\n";
        }
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "tc_tool: " << e.what() << "\n";
        return 1;
    }
}
