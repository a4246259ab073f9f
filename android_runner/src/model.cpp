#include "model.h"

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

using executorch::extension::make_tensor_ptr;
using executorch::extension::module::Module;
using executorch::runtime::Error;
using executorch::runtime::EValue;

namespace runner {

static std::string err_name(Error e) { return "ExecuTorch error " + std::to_string(static_cast<int>(e)); }

static int64_t to_int(const EValue& v) {
  if (v.isInt()) return v.toInt();
  if (v.isScalar()) return v.toScalar().to<int64_t>();
  if (v.isTensor() && v.toTensor().numel() == 1) return v.toTensor().const_data_ptr<int64_t>()[0];
  throw std::runtime_error("constant method returned a non-integer value");
}

Model::Model(const std::string& path) {
  // Module would defer the error to the first call; check the file first for a clear message.
  if (!std::ifstream(path, std::ios::binary).good()) throw std::runtime_error("cannot open model file " + path);
  // Mmap: the weights are paged in from the file instead of copied into the heap.
  module_ = std::make_unique<Module>(path, Module::LoadMode::Mmap);
  Error e = module_->load();
  if (e != Error::Ok) throw std::runtime_error("cannot load " + path + " as an ExecuTorch program (" + err_name(e) + ")");
  e = module_->load_method("forward");
  if (e != Error::Ok) throw std::runtime_error("cannot load method 'forward' of " + path + " (" + err_name(e) + ")");
  read_metadata();
}

Model::~Model() = default;

void Model::read_metadata() {
  auto names = module_->method_names();
  if (!names.ok()) throw std::runtime_error("cannot list the program's methods");
  for (const char* need : {"get_max_seq_len", "get_eos_ids"})
    if (!names->count(need)) throw std::runtime_error(std::string("the .pte lacks the constant method ") + need);
  auto len = module_->execute("get_max_seq_len");
  auto eos = module_->execute("get_eos_ids");
  if (!len.ok() || len->empty() || !eos.ok()) throw std::runtime_error("cannot run the .pte's constant methods");
  max_seq_len_ = to_int((*len)[0]);
  for (const auto& v : *eos) eos_ids_.push_back(to_int(v));
  // The dynamic input's upper bound and the vocabulary come from the method's tensor metadata.
  auto meta = module_->method_meta("forward");
  if (!meta.ok() || meta->num_inputs() < 2) throw std::runtime_error("method 'forward' must take (input_ids, cache_position)");
  auto in = meta->input_tensor_meta(0);
  auto out = meta->output_tensor_meta(0);
  if (!in.ok() || in->sizes().size() != 2 || !out.ok() || out->sizes().size() != 3)
    throw std::runtime_error("forward must map input_ids [1,T] to logits [1,T,V]");
  max_call_ = in->sizes()[1];
  vocab_size_ = out->sizes()[2];
  if (names->count("get_vocab_size")) {
    auto vs = module_->execute("get_vocab_size");
    if (vs.ok() && !vs->empty()) vocab_size_ = std::min<int64_t>(vocab_size_, to_int((*vs)[0]));
  }
  if (max_seq_len_ <= 0 || vocab_size_ <= 0 || max_call_ <= 0) throw std::runtime_error("the .pte reports empty sizes");
}

int64_t Model::reusable(const std::vector<int64_t>& prompt) const {
  const size_t n = std::min(cached_.size(), prompt.size() - (prompt.empty() ? 0 : 1));
  size_t i = 0;
  while (i < n && cached_[i] == prompt[i]) ++i;
  return static_cast<int64_t>(i);
}

bool Model::is_eos(int64_t id) const {
  return std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

bool Model::forward(const std::vector<int64_t>& ids, int64_t start_pos, std::vector<int64_t>& argmax,
                    std::string& error) {
  const auto t = static_cast<int32_t>(ids.size());
  std::vector<int64_t> pos(ids.size());
  for (int32_t i = 0; i < t; ++i) pos[i] = start_pos + i;
  auto ids_t = make_tensor_ptr({1, t}, std::vector<int64_t>(ids));
  auto pos_t = make_tensor_ptr({t}, std::move(pos));
  auto res = module_->forward({EValue(*ids_t), EValue(*pos_t)});
  if (!res.ok() || res->empty() || !(*res)[0].isTensor()) {
    error = "forward failed at position " + std::to_string(start_pos) + " (" +
            (res.ok() ? std::string("no tensor output") : err_name(res.error())) + ")";
    return false;
  }
  const auto& logits = (*res)[0].toTensor();
  const int64_t v = logits.size(logits.dim() - 1);
  const float* data = logits.const_data_ptr<float>();
  const int64_t rows = logits.numel() / v;
  argmax.assign(rows, 0);
  // The output buffer belongs to the method and is overwritten by the next call: reduce now.
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = data + r * v;
    argmax[r] = std::max_element(row, row + std::min(v, vocab_size_)) - row;
  }
  return true;
}

}  // namespace runner
