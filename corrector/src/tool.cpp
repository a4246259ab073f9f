// tc_tool: the library over JSON Lines on stdin/stdout, for the differential tests and the
// bench (tests/test_corrector_cpp.py, bench/bench_corrector_cpp.py).
//   tc_tool encode TOKENIZER.json        {"text": s}              -> {"ids": [...], "decoded": s'}
//   tc_tool prompt METADATA.json WORDS   {"text": s}              -> {"ids": [...]}
//   tc_tool guard WORDS [ALIGN_WINDOW]   {"input": s, "output": s} -> {"guarded": s}
//   tc_tool opcodes                      {"a": [int], "b": [int]}  -> {"ops": [[tag, i1, i2, j1, j2]]}
//   tc_tool bench METADATA.json WORDS    {"input": s, "output": s} -> {"encode_us": t, "guard_us": t}
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "align.hpp"
#include "corrector.hpp"
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

int run(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    std::unique_ptr<tc::Tokenizer> tok;
    std::unique_ptr<tc::Corrector> corr;
    std::unique_ptr<tc::Guard> guard;
    if (mode == "encode" && argc == 3) tok = std::make_unique<tc::Tokenizer>(tc::Tokenizer::from_file(argv[2]));
    else if ((mode == "prompt" || mode == "bench") && argc == 4) corr = std::make_unique<tc::Corrector>(argv[2], argv[3]);
    else if (mode == "guard" && (argc == 3 || argc == 4)) {
        tc::GuardConfig cfg;
        if (argc == 4) cfg.align_window = std::stoi(argv[3]);
        guard = std::make_unique<tc::Guard>(argv[2], cfg);
    }
    else if (mode != "opcodes" || argc != 2) {
        std::cerr << "usage: tc_tool encode TOKENIZER.json | prompt META.json WORDS | guard WORDS [ALIGN_WINDOW] | opcodes"
                     " | bench META.json WORDS (JSON Lines on stdin)\n";
        return 2;
    }
    std::string line;
    std::ios::sync_with_stdio(false);
    while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        tc::Json j = tc::parse_json(line);
        if (tok) {
            auto ids = tok->encode(field(j, "text"));
            std::cout << "{\"ids\":" << ids_json(ids) << ",\"decoded\":" << quote(tok->decode(ids, true)) << "}\n";
        } else if (mode == "prompt") {
            std::cout << "{\"ids\":" << ids_json(corr->prompt_ids(field(j, "text"))) << "}\n";
        } else if (guard) {
            std::cout << "{\"guarded\":" << quote(guard->guard(field(j, "input"), field(j, "output"))) << "}\n";
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
