// The C API over tc::Corrector: every C++ exception becomes a status code and a message.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include <memory>

#include "corrector.hpp"
#include "dictpass.hpp"
#include "json.hpp"
#include "typo_corrector.h"

// `dict` refers to `impl`: the struct lives on the heap and never moves.
struct tc_corrector {
    tc::Corrector impl;
    std::unique_ptr<tc::DictionaryPass> dict;
};

namespace {

char* dup(const std::string& s) {
    char* p = static_cast<char*>(std::malloc(s.size() + 1));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
    return p;
}

void set_error(char** error, const std::string& msg) {
    if (!error) return;
    *error = static_cast<char*>(std::malloc(msg.size() + 1));
    if (*error) { std::memcpy(*error, msg.data(), msg.size()); (*error)[msg.size()] = '\0'; }
}

bool readable(const char* path) { return std::ifstream(path).good(); }

// Run `body`, mapping each error family to its code.
template <typename F>
tc_status guarded(char** error, F&& body) {
    if (error) *error = nullptr;
    try {
        body();
        return TC_OK;
    } catch (const tc::Utf8Error& e) {
        set_error(error, e.what());
        return TC_ERR_UTF8;
    } catch (const tc::TokenizerError& e) {
        set_error(error, e.what());
        return TC_ERR_FORMAT;
    } catch (const tc::GuardError& e) {
        set_error(error, e.what());
        return TC_ERR_FORMAT;
    } catch (const tc::CorrectorError& e) {
        set_error(error, e.what());
        return TC_ERR_FORMAT;
    } catch (const tc::DictError& e) {
        set_error(error, e.what());
        return TC_ERR_FORMAT;
    } catch (const tc::JsonError& e) {
        set_error(error, e.what());
        return TC_ERR_FORMAT;
    } catch (const std::bad_alloc&) {
        set_error(error, "out of memory");
        return TC_ERR_INTERNAL;
    } catch (const std::exception& e) {
        set_error(error, e.what());
        return TC_ERR_INTERNAL;
    } catch (...) {
        set_error(error, "unknown error");
        return TC_ERR_INTERNAL;
    }
}

struct GenerateFailed : std::runtime_error { using std::runtime_error::runtime_error; };

template <typename T>
T* copy_out(const std::vector<T>& v) {
    T* p = static_cast<T*>(std::malloc(v.empty() ? 1 : v.size() * sizeof(T)));
    if (!p) throw std::bad_alloc();
    if (!v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(T));
    return p;
}

#define TC_NEED(cond, what)                                        \
    do {                                                           \
        if (!(cond)) { set_error(error, what); return TC_ERR_ARGUMENT; } \
    } while (0)

}  // namespace

extern "C" {

const char* tc_status_name(tc_status s) {
    switch (s) {
        case TC_OK: return "TC_OK";
        case TC_ERR_ARGUMENT: return "TC_ERR_ARGUMENT";
        case TC_ERR_IO: return "TC_ERR_IO";
        case TC_ERR_FORMAT: return "TC_ERR_FORMAT";
        case TC_ERR_UTF8: return "TC_ERR_UTF8";
        case TC_ERR_GENERATE: return "TC_ERR_GENERATE";
        case TC_ERR_INTERNAL: return "TC_ERR_INTERNAL";
    }
    return "TC_UNKNOWN";
}

void tc_free(void* p) { std::free(p); }
void tc_close(tc_corrector* c) { delete c; }

tc_status tc_open(const char* metadata_json, const char* english_words, tc_corrector** out, char** error) {
    if (error) *error = nullptr;
    TC_NEED(metadata_json && english_words && out, "tc_open: metadata_json, english_words and out are required");
    *out = nullptr;
    for (const char* p : {metadata_json, english_words})
        if (!readable(p)) { set_error(error, std::string(p) + ": cannot be read"); return TC_ERR_IO; }
    return guarded(error, [&] { *out = new tc_corrector{tc::Corrector(metadata_json, english_words), nullptr}; });
}

void tc_dict_options_init(tc_dict_options* o) {
    if (!o) return;
    static const tc::DictConfig d;  // static: the context and mask strings outlive the call
    *o = tc_dict_options{d.margin, d.tie_margin, d.max_edit_distance, d.max_candidates, d.max_words, d.min_word_len,
                         d.edit_weight, d.list_bonus, d.refused_words, d.splits, d.merges, d.min_part_count,
                         d.context.c_str(), d.mask.c_str()};
}

tc_status tc_open_with_dictionary(const char* metadata_json, const char* english_words, const char* dictionary,
                                  const char* misspellings, const tc_dict_options* options, tc_corrector** out,
                                  char** error) {
    if (error) *error = nullptr;
    TC_NEED(metadata_json && english_words && dictionary && out,
            "tc_open_with_dictionary: metadata_json, english_words, dictionary and out are required");
    *out = nullptr;
    for (const char* p : {metadata_json, english_words, dictionary, misspellings})
        if (p && !readable(p)) { set_error(error, std::string(p) + ": cannot be read"); return TC_ERR_IO; }
    tc::DictConfig cfg;
    if (options) {
        cfg.margin = options->margin, cfg.tie_margin = options->tie_margin;
        cfg.max_edit_distance = options->max_edit_distance, cfg.max_candidates = options->max_candidates;
        cfg.max_words = options->max_words, cfg.min_word_len = options->min_word_len;
        cfg.edit_weight = options->edit_weight, cfg.list_bonus = options->list_bonus;
        cfg.refused_words = options->refused_words != 0, cfg.splits = options->splits != 0;
        cfg.merges = options->merges != 0, cfg.min_part_count = options->min_part_count;
        if (options->context) cfg.context = options->context;
        if (options->mask) cfg.mask = options->mask;
    }
    return guarded(error, [&] {
        auto c = std::make_unique<tc_corrector>(tc_corrector{tc::Corrector(metadata_json, english_words), nullptr});
        c->dict = std::make_unique<tc::DictionaryPass>(c->impl, dictionary, misspellings ? misspellings : "", cfg);
        *out = c.release();
    });
}

tc_status tc_dictionary_pass(const tc_corrector* c, const char* input, const char* raw_output, tc_score_fn score,
                             void* user, size_t max_len, char** output, int* needed, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && input && raw_output && score && output, "tc_dictionary_pass: input, raw_output, score and output are required");
    TC_NEED(c->dict != nullptr, "tc_dictionary_pass: the corrector was opened without a dictionary (tc_open_with_dictionary)");
    tc_status st = guarded(error, [&] {
        auto fn = [&](const std::vector<int32_t>& prefix, const std::vector<std::vector<int32_t>>& conts) {
            std::vector<const int32_t*> ptrs;
            std::vector<size_t> lens;
            for (const auto& x : conts) { ptrs.push_back(x.data()); lens.push_back(x.size()); }
            std::vector<double> out(conts.size(), 0.0);
            if (score(user, prefix.data(), prefix.size(), ptrs.data(), lens.data(), conts.size(), out.data()) != 0)
                throw GenerateFailed("the score callback failed");
            return out;
        };
        tc::PassResult r = c->dict->run(input, raw_output, fn, max_len);
        *output = dup(r.output);
        if (needed) *needed = r.needed ? 1 : 0;
    });
    if (st == TC_ERR_INTERNAL && error && *error && std::strcmp(*error, "the score callback failed") == 0)
        return TC_ERR_GENERATE;
    return st;
}

tc_status tc_prompt_ids(const tc_corrector* c, const char* text, int32_t** ids, size_t* n, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && text && ids && n, "tc_prompt_ids: every argument is required");
    return guarded(error, [&] {
        auto v = c->impl.prompt_ids(text);
        *ids = copy_out(v);
        *n = v.size();
    });
}

tc_status tc_stop_ids(const tc_corrector* c, int32_t** ids, size_t* n, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && ids && n, "tc_stop_ids: every argument is required");
    return guarded(error, [&] { *ids = copy_out(c->impl.stop_ids()); *n = c->impl.stop_ids().size(); });
}

tc_status tc_encode(const tc_corrector* c, const char* text, int32_t** ids, size_t* n, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && text && ids && n, "tc_encode: every argument is required");
    return guarded(error, [&] {
        auto v = c->impl.tokenizer().encode(text);
        *ids = copy_out(v);
        *n = v.size();
    });
}

tc_status tc_decode(const tc_corrector* c, const int32_t* ids, size_t n, char** text, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && (ids || !n) && text, "tc_decode: every argument is required");
    return guarded(error, [&] { *text = dup(c->impl.tokenizer().decode(std::vector<int32_t>(ids, ids + n), true)); });
}

tc_status tc_guard(const tc_corrector* c, const char* input, const char* raw_output, char** guarded_out, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && input && raw_output && guarded_out, "tc_guard: every argument is required");
    return guarded(error, [&] { *guarded_out = dup(c->impl.guard(input, raw_output)); });
}

tc_status tc_finish(const tc_corrector* c, const char* input, const int32_t* generated, size_t n,
                    char** raw, char** guarded_out, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && input && (generated || !n) && guarded_out, "tc_finish: input, generated and guarded are required");
    return guarded(error, [&] {
        std::string r = c->impl.decode_answer(std::vector<int32_t>(generated, generated + n));
        std::string g = c->impl.guard(input, r);
        *guarded_out = dup(g);
        if (raw) *raw = dup(r);
    });
}

tc_status tc_correct(const tc_corrector* c, const char* text, tc_generate_fn generate, void* user,
                     size_t max_new_tokens, char** raw, char** guarded_out, char** error) {
    if (error) *error = nullptr;
    TC_NEED(c && text && generate && guarded_out, "tc_correct: text, generate and guarded are required");
    TC_NEED(max_new_tokens > 0 && max_new_tokens <= (1u << 20), "tc_correct: max_new_tokens must be in 1..1048576");
    tc_status st = guarded(error, [&] {
        auto gen = [&](const std::vector<int32_t>& prompt) {
            std::vector<int32_t> out(max_new_tokens);
            size_t got = 0;
            if (generate(user, prompt.data(), prompt.size(), out.data(), out.size(), &got) != 0 || got > out.size())
                throw GenerateFailed("the generate callback failed");
            out.resize(got);
            return out;
        };
        tc::Correction r = c->impl.correct(text, gen);
        *guarded_out = dup(r.guarded);
        if (raw) *raw = dup(r.raw);
    });
    if (st == TC_ERR_INTERNAL && error && *error && std::strcmp(*error, "the generate callback failed") == 0)
        return TC_ERR_GENERATE;
    return st;
}

}  // extern "C"
