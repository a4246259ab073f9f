// The C API over tc::Corrector: every C++ exception becomes a status code and a message.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>

#include "corrector.hpp"
#include "json.hpp"
#include "typo_corrector.h"

struct tc_corrector { tc::Corrector impl; };

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
    return guarded(error, [&] { *out = new tc_corrector{tc::Corrector(metadata_json, english_words)}; });
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
