/* typo_corrector: text in, guarded text out, for apps and runners (C API).
 *
 * Every call returns a tc_status; on an error, *error (when not NULL) receives a message
 * the caller frees with tc_free. Strings are UTF-8, NUL-terminated; results are allocated
 * by the library and freed with tc_free. No C++ exception crosses this boundary. A handle
 * may be used from several threads at once (every call only reads it).
 *
 *   tc_corrector* c; char* err = NULL;
 *   if (tc_open("models/typing-corrector-int8.json", "frequency_dictionary_en_82_765.txt", &c, &err)) ...
 *   int32_t* ids; size_t n;  tc_prompt_ids(c, text, &ids, &n, &err);   // feed the model
 *   char* out;  tc_finish(c, text, generated, n_generated, &out, &err);  // decode + guard
 *   tc_free(ids); tc_free(out); tc_close(c);
 *
 * The dictionary pass (evaluation/dictpass.py) is an optional extra: open with
 * tc_open_with_dictionary, then hand tc_dictionary_pass the model's raw answer and a scoring
 * callback (the model's teacher-forced log-probs); it returns the guarded, dictionary-corrected text.
 */
#ifndef TYPO_CORRECTOR_H
#define TYPO_CORRECTOR_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define TC_API
#else
#define TC_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TC_OK = 0,
    TC_ERR_ARGUMENT = 1, /* a NULL pointer or an out-of-range value */
    TC_ERR_IO = 2,       /* a file cannot be read */
    TC_ERR_FORMAT = 3,   /* a file is not what the export writes (metadata, tokenizer.json, word list) */
    TC_ERR_UTF8 = 4,     /* a text is not valid UTF-8 */
    TC_ERR_GENERATE = 5, /* the caller's generate (or score) callback failed */
    TC_ERR_INTERNAL = 6  /* anything else (out of memory, a bug): the message says what */
} tc_status;

typedef struct tc_corrector tc_corrector;

/* The model, run by the caller: writes up to max_out generated ids (it may stop at a stop id)
 * into out_ids and their count into *n_out; returns 0 on success. */
typedef int (*tc_generate_fn)(void* user, const int32_t* prompt_ids, size_t n_prompt,
                              int32_t* out_ids, size_t max_out, size_t* n_out);

/* metadata_json: the JSON the export writes beside the .pte (tokenizer.json beside it);
 * english_words: symspellpy's frequency_dictionary_en_82_765.txt (the guard's word list). */
TC_API tc_status tc_open(const char* metadata_json, const char* english_words, tc_corrector** out, char** error);
TC_API void tc_close(tc_corrector* c);
TC_API void tc_free(void* p);
TC_API const char* tc_status_name(tc_status s);

/* The prompt's token ids for a text (the model's input). */
TC_API tc_status tc_prompt_ids(const tc_corrector* c, const char* text, int32_t** ids, size_t* n, char** error);
/* The ids that end an answer (free with tc_free). */
TC_API tc_status tc_stop_ids(const tc_corrector* c, int32_t** ids, size_t* n, char** error);
/* Plain tokenizer access (no prompt): encode, and decode without special tokens. */
TC_API tc_status tc_encode(const tc_corrector* c, const char* text, int32_t** ids, size_t* n, char** error);
TC_API tc_status tc_decode(const tc_corrector* c, const int32_t* ids, size_t n, char** text, char** error);
/* The guard alone: raw model output -> guarded text. */
TC_API tc_status tc_guard(const tc_corrector* c, const char* input, const char* raw_output, char** guarded, char** error);
/* Generated ids -> answer text (cut at the first stop id) -> guarded text; *raw optional. */
TC_API tc_status tc_finish(const tc_corrector* c, const char* input, const int32_t* generated, size_t n,
                    char** raw, char** guarded, char** error);
/* Everything: prompt, the caller's model, decode, guard. *raw optional. */
TC_API tc_status tc_correct(const tc_corrector* c, const char* text, tc_generate_fn generate, void* user,
                     size_t max_new_tokens, char** raw, char** guarded, char** error);

/* ---- the dictionary pass (optional) ---- */

/* evaluation/dictpass.py DictConfig; tc_dict_options_init fills its defaults. */
typedef struct {
    double margin;             /* nats a candidate must beat keeping the typed word by (1.0) */
    double tie_margin;         /* ... and the runner-up by (0.5) */
    int32_t max_edit_distance; /* SymSpell candidates within this many edits, 1 or 2 (2) */
    int32_t max_candidates;    /* per word, 1..32 (5) */
    int32_t max_words;         /* words per sentence looked at, 1..64 (6) */
    int32_t min_word_len;      /* shorter words are left alone (3) */
    double edit_weight;        /* nats per keyboard-weighted edit (1.5) */
    double list_bonus;         /* nats when the misspelling list pairs typed and candidate (2.0) */
    int32_t refused_words;     /* also look at words whose change the guard refused (1) */
    int32_t splits, merges;    /* "alot" -> "a lot", "tomor row" -> "tomorrow" (1, 1) */
    int64_t min_part_count;    /* SymSpell count each part of a split needs (1000000) */
    const char* context;       /* what the model scores against: "typed", "masked" or "both" ("typed");
                                  NULL = the default; read during tc_open_with_dictionary only */
    const char* mask;          /* the word "masked" puts for each word under review ("___"); NULL = default */
} tc_dict_options;

TC_API void tc_dict_options_init(tc_dict_options* options);

/* tc_open plus the dictionary pass: dictionary = SymSpell's frequency list ("word count" lines;
 * symspellpy's frequency_dictionary_en_82_765.txt, usually the english_words file itself);
 * misspellings = a Mitton .dat list ("$meant", then typed words) or NULL (no list bonus);
 * options NULL = the defaults. A bad line is TC_ERR_FORMAT naming file:line. */
TC_API tc_status tc_open_with_dictionary(const char* metadata_json, const char* english_words,
                                         const char* dictionary, const char* misspellings,
                                         const tc_dict_options* options, tc_corrector** out, char** error);

/* The model's teacher-forced log-probs: for each of n continuations (continuations[i], lengths[i]
 * ids) after the shared prefix, the summed log-probability of its tokens into scores[i].
 * Returns 0 on success. */
typedef int (*tc_score_fn)(void* user, const int32_t* prefix, size_t n_prefix, const int32_t* const* continuations,
                           const size_t* lengths, size_t n, double* scores);

/* The pass on a model's raw answer for `input`: guard, dictionary candidates scored through
 * `score`, guard again. max_len: the model's context (a longer prompt + answer keeps the guarded
 * text). *needed (optional) is 1 when the text had words the pass looked at.
 * TC_ERR_ARGUMENT when the handle was opened without a dictionary. */
TC_API tc_status tc_dictionary_pass(const tc_corrector* c, const char* input, const char* raw_output,
                                    tc_score_fn score, void* user, size_t max_len, char** output, int* needed,
                                    char** error);

#ifdef __cplusplus
}
#endif

#endif /* TYPO_CORRECTOR_H */
