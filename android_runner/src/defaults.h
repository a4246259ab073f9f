// Copy-speculation defaults. Their one home is core/decoding_defaults.json, which the Python
// runtime (core/decoding.py) reads too; CMakeLists.txt compiles the same numbers in as
// TYPO_DEFAULT_*, so the runner and PteModel draft, verify and re-anchor alike.
#pragma once

#if !defined(TYPO_DEFAULT_DRAFT_LEN) || !defined(TYPO_DEFAULT_PREFILL_DRAFT) || \
    !defined(TYPO_DEFAULT_MAX_NGRAM)
#error "TYPO_DEFAULT_* missing: build with android_runner/CMakeLists.txt (reads core/decoding_defaults.json)"
#endif

namespace runner {

constexpr int kDefaultDraftLen = TYPO_DEFAULT_DRAFT_LEN;          // --draft-len
constexpr int kDefaultPrefillDraft = TYPO_DEFAULT_PREFILL_DRAFT;  // --prefill-draft
constexpr int kDefaultMaxNgram = TYPO_DEFAULT_MAX_NGRAM;          // --max-ngram

// The ranges the flags accept (options.cpp): a default outside them fails the build, not a run.
static_assert(kDefaultDraftLen >= 1 && kDefaultDraftLen <= 64, "draft_len must be in [1, 64]");
static_assert(kDefaultPrefillDraft >= 0 && kDefaultPrefillDraft <= 4096, "prefill_draft must be in [0, 4096]");
static_assert(kDefaultMaxNgram >= 1 && kDefaultMaxNgram <= 64, "max_ngram must be in [1, 64]");

}  // namespace runner
