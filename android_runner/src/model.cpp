#include "model.h"

#include <executorch/extension/module/module.h>
#include <executorch/extension/tensor/tensor.h>
#include <executorch/runtime/kernel/operator_registry.h>
#ifdef TYPO_ETDUMP
#include <executorch/devtools/etdump/etdump_flatcc.h>
#endif

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
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

// ---- ExecuTorch's LLM custom ops (llama::custom_sdpa, llama::update_cache) ----
// The xnnpack-*-sdpa recipes call them. A source build (Android, build_static.sh) links them
// (EXECUTORCH_BUILD_KERNELS_LLM). The pip wheel has them only in
// extension/llm/custom_ops/libcustom_ops_aot_lib.so, which also holds their PyTorch bindings and
// therefore needs libtorch and libpython; the host build (TYPO_LLM_OPS) loads it, with libpython
// first, the first time a program needs an operator that is not registered.

// The custom ops a program names: operator names are plain strings in the program's flatbuffer,
// which the extended header (b"eh00" at byte 8, then the header length, the flatbuffer's size)
// bounds; the weights after it are not read. Without that header the whole file is scanned.
static std::set<std::string> llama_ops_in(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[32] = {};
  f.read(head, sizeof head);
  uint64_t limit = UINT64_MAX;
  if (f.gcount() == static_cast<std::streamsize>(sizeof head) && std::memcmp(head + 8, "eh00", 4) == 0)
    std::memcpy(&limit, head + 16, sizeof limit);  // little-endian, as the file
  f.clear();
  f.seekg(0);
  std::set<std::string> ops;
  std::string window;  // the chunk read now, after the last 64 bytes of the one before
  std::vector<char> chunk(1 << 20);
  uint64_t done = 0;
  while (done < limit) {
    f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<uint64_t>(f.gcount());
    if (got == 0) break;
    window += std::string(chunk.data(), static_cast<size_t>(std::min(got, limit - done)));
    done += got;
    for (size_t at = window.find("llama::"); at != std::string::npos; at = window.find("llama::", at + 1)) {
      size_t end = at + 7;
      while (end < window.size() && (std::isalnum(static_cast<unsigned char>(window[end])) || window[end] == '_')) ++end;
      if (end < window.size()) ops.insert(window.substr(at, end - at));  // a name cut by the chunk end comes again
    }
    window = window.substr(window.size() > 64 ? window.size() - 64 : 0);
  }
  return ops;
}

static std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// "" when loaded, else why not.
static std::string load_llm_ops() {
#ifdef TYPO_LLM_OPS_LIB
  static std::string result = [] {
    const std::string python = env_or("TYPO_LIBPYTHON", TYPO_LIBPYTHON);
    const std::string lib = env_or("TYPO_LLM_OPS_LIB", TYPO_LLM_OPS_LIB);
    // The library's PyTorch half refers to the CPython API; nothing calls it here.
    if (!dlopen(python.c_str(), RTLD_NOW | RTLD_GLOBAL))
      return "cannot load " + python + " (needed by the wheel's LLM custom ops library): " + dlerror();
    if (!dlopen(lib.c_str(), RTLD_NOW | RTLD_GLOBAL))
      return "cannot load the LLM custom ops library " + lib + ": " + dlerror();
    return std::string();
  }();
  return result;
#else
  return "this typo_runner was built without the LLM custom ops (host: TYPO_LLM_OPS=ON, the default of "
         "build_host.sh; Android/static: an ExecuTorch source build with EXECUTORCH_BUILD_KERNELS_LLM=ON)";
#endif
}

Model::Model(const std::string& path) {
  // Module would defer the error to the first call; check the file first for a clear message.
  if (!std::ifstream(path, std::ios::binary).good()) throw std::runtime_error("cannot open model file " + path);
  // Mmap: the weights are paged in from the file instead of copied into the heap.
#ifdef TYPO_ETDUMP
  module_ = std::make_unique<Module>(path, Module::LoadMode::Mmap, std::make_unique<executorch::etdump::ETDumpGen>());
#else
  module_ = std::make_unique<Module>(path, Module::LoadMode::Mmap);
#endif
  Error e = module_->load();
  if (e != Error::Ok) throw std::runtime_error("cannot load " + path + " as an ExecuTorch program (" + err_name(e) + ")");
  // A program with LLM custom ops: load their kernels before the method asks for them.
  const std::set<std::string> ops = llama_ops_in(path);
  std::string names;
  for (const auto& op : ops) names += (names.empty() ? "" : ", ") + op;
  bool registered = false;  // (registry_has_op_function would log an error for a missing one)
  for (const auto& k : executorch::runtime::get_registered_kernels())
    registered = registered || (!ops.empty() && std::string(k.name_) == *ops.begin() + ".out");
  if (!ops.empty() && !registered) {
    const std::string why = load_llm_ops();
    if (!why.empty())
      throw std::runtime_error("cannot load method 'forward' of " + path + ": it needs the LLM custom operators " +
                               names + ", but " + why);
  }
  row_exact_ = ops.empty();
  e = module_->load_method("forward");
  if (e == Error::OperatorMissing) {
    if (ops.empty())
      throw std::runtime_error("cannot load method 'forward' of " + path +
                               ": it needs an operator this runner has no kernel for (ExecuTorch's log above names it)");
    throw std::runtime_error("cannot load method 'forward' of " + path + ": an operator is missing although the "
                             "LLM custom ops are loaded (the program names " + names + "; ExecuTorch's log above says which)");
  }
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

std::string Model::write_etdump(const std::string& path) const {
#ifdef TYPO_ETDUMP
  auto* gen = static_cast<executorch::etdump::ETDumpGen*>(module_->event_tracer());
  if (!gen) return "the module has no event tracer";
  executorch::etdump::ETDumpResult dump = gen->get_etdump_data();
  if (!dump.buf || dump.size == 0) return "the event tracer recorded nothing";
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(dump.buf), static_cast<std::streamsize>(dump.size));
  free(dump.buf);
  if (!out.good()) return "cannot write " + path;
  return "";
#else
  (void)path;
  return "this typo_runner was built without ETDump (build_host.sh with ETDUMP=1)";
#endif
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
