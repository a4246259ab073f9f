// The exported decoder behind the ExecuTorch Module API. One `forward(ids, start_pos)` call
// runs T tokens at cache positions start_pos..start_pos+T-1 through the static KV cache that
// lives inside the .pte, and returns the greedy (argmax) token after each of those positions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace executorch::extension::module { class Module; }

namespace runner {

class Model {
 public:
  // Throws std::runtime_error with a readable message for a missing or corrupt file.
  explicit Model(const std::string& path);
  ~Model();

  // argmax of the logits at every input row (rows.size() == ids.size()); empty + error on failure.
  bool forward(const std::vector<int64_t>& ids, int64_t start_pos, std::vector<int64_t>& argmax,
               std::string& error);

  const std::vector<int64_t>& eos_ids() const { return eos_ids_; }
  bool is_eos(int64_t id) const;
  int64_t max_seq_len() const { return max_seq_len_; }
  int64_t vocab_size() const { return vocab_size_; }
  int64_t max_tokens_per_call() const { return max_call_; }  // upper bound of the dynamic T
  // False for programs with ExecuTorch's LLM custom ops: llama::custom_sdpa's result for one
  // query row depends on how many rows the call has (the wheel's kernel: its MKL matrix products
  // and its softmax, whose length follows start_pos + T), so copy speculation checks their drafts
  // one token per call, the calls plain greedy makes.
  bool row_exact() const { return row_exact_; }

  // Prefix cache. The KV cache outlives a request, and requests share their opening (the
  // instruction and the chat header): positions < reusable(prompt) already hold exactly
  // these prompt tokens, so the next prefill can start there. At least the prompt's last
  // token is always fed again (its logits give the first generated token).
  int64_t reusable(const std::vector<int64_t>& prompt) const;

  // ETDump builds (TYPO_ETDUMP): writes the events of every call so far to `path` (an .etdp file
  // that executorch.devtools.Inspector reads with the program's ETRecord or without). Returns
  // "" or why not; other builds say they have no event tracer.
  std::string write_etdump(const std::string& path) const;
  void cached_prompt(const std::vector<int64_t>& prompt) { cached_ = prompt; }  // after a prefill
  void forget_prompt() { cached_.clear(); }

 private:
  std::unique_ptr<executorch::extension::module::Module> module_;
  std::vector<int64_t> eos_ids_;
  int64_t max_seq_len_ = 0;
  int64_t vocab_size_ = 0;
  int64_t max_call_ = 0;
  bool row_exact_ = true;
  std::vector<int64_t> cached_;  // the prompt whose tokens fill cache positions 0..size-1
  void read_metadata();
};

}  // namespace runner
