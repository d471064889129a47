// cuDNN's fused flash attention (its SDPA graphs, built through the cuDNN frontend's headers) for
// train.attention = "cudnn": q, k, v, the output and the gradients in bf16 (tensor cores), the softmax statistics
// and sums in fp32. The fp32 operands are rounded into the caller's scratch, and the bf16 results widened back.
//
// cuDNN is loaded at first use (dlopen; the frontend's dynamic loading), so a machine without it runs everything
// else and says why this cannot run (flash_attention_bf16_check). A graph is built once per shape and kept: the
// trainer builds its step's graphs before the first step, and their workspace comes from the runtime's scratch.
#include <dlfcn.h>

#include <cudnn_frontend.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

#include "ops/cuda/ops_cuda.hpp"
#include "ops/cuda/runtime.hpp"

namespace cudnn_frontend {
void* cudnn_dlhandle =
    nullptr;  // the frontend's calls into cuDNN go through it (NV_CUDNN_FRONTEND_USE_DYNAMIC_LOADING)
}  // namespace cudnn_frontend

namespace tessera::ops::cuda {
namespace {

namespace fe = cudnn_frontend;

enum Uid : int64_t { kQ = 1, kK, kV, kO, kStats, kDO, kDQ, kDK, kDV };

struct Shape {
  int B, Tn, NH, NKV, HS;
  bool causal, backward;
  auto key() const { return std::tuple(B, Tn, NH, NKV, HS, causal, backward); }
  bool operator<(const Shape& o) const { return key() < o.key(); }
};

struct Cudnn {
  std::string unavailable;  // why cuDNN cannot be used; "" once it is loaded and has a handle
  cudnnHandle_t handle = nullptr;
  std::map<Shape, std::shared_ptr<fe::graph::Graph>> graphs;
};

// The process's cuDNN, loaded at the first call (never unloaded: the graphs live until the process ends).
Cudnn& cudnn() {
  static Cudnn c = [] {
    Cudnn r;
    std::string tried;
    for (const char* lib : {"libcudnn.so.9", "libcudnn.so"}) {
      fe::cudnn_dlhandle = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
      if (fe::cudnn_dlhandle != nullptr) break;
      const char* why = dlerror();
      tried += fmt::format("{}{}", tried.empty() ? "" : "; ", why != nullptr ? why : lib);
    }
    if (fe::cudnn_dlhandle == nullptr) {
      r.unavailable = fmt::format("cuDNN did not load ({})", tried);
      return r;
    }
    try {
      const cudnnStatus_t status = fe::detail::create_handle(&r.handle);
      if (status != CUDNN_STATUS_SUCCESS) r.unavailable = fmt::format("cudnnCreate failed (status {})", int(status));
    } catch (const std::exception& e) {
      r.unavailable = e.what();
    }
    return r;
  }();
  return c;
}

// A step of building a graph: "" or cuDNN's message.
std::string failed(const fe::error_object& e, const char* step) {
  return e.is_good() ? "" : fmt::format("{}: {}", step, e.err_msg);
}

// The forward or backward graph of a shape. The tensors are views of the packed layouts: q (B, NH, T, HS) in rows
// of W = (NH + 2 NKV) HS (strides T W, HS, W, 1), k and v (B, NKV, T, HS) beside it in the same rows; the output
// and its gradient (B, NH, T, HS) in rows of NH HS; the statistics (B, NH, T, 1) as lse (B, NH, T).
std::shared_ptr<fe::graph::Graph> build(const Shape& s, cudnnHandle_t handle, std::string* why) {
  auto g = std::make_shared<fe::graph::Graph>();
  g->set_io_data_type(fe::DataType_t::BFLOAT16)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const int64_t B = s.B, Tn = s.Tn, HS = s.HS, NH = s.NH, NKV = s.NKV;
  const int64_t W = (NH + 2 * NKV) * HS, C = NH * HS;
  auto heads = [&](const char* name, int64_t uid, int64_t n_heads, int64_t row) {
    return g->tensor(fe::graph::Tensor_attributes()
                         .set_name(name)
                         .set_uid(uid)
                         .set_dim({B, n_heads, Tn, HS})
                         .set_stride({Tn * row, HS, row, 1}));
  };
  auto q = heads("q", kQ, NH, W);
  auto k = heads("k", kK, NKV, W);
  auto v = heads("v", kV, NKV, W);
  const float scale = 1.0F / std::sqrt(static_cast<float>(HS));
  if (!s.backward) {
    auto options = fe::graph::SDPA_attributes()
                       .set_name("attention")
                       .set_generate_stats(true)
                       .set_attn_scale(scale)
                       .set_causal_mask(s.causal);
    auto [o, stats] = g->sdpa(q, k, v, options);
    o->set_output(true).set_uid(kO).set_dim({B, NH, Tn, HS}).set_stride({Tn * C, HS, C, 1});
    stats->set_output(true)
        .set_uid(kStats)
        .set_data_type(fe::DataType_t::FLOAT)
        .set_dim({B, NH, Tn, 1})
        .set_stride({NH * Tn, Tn, 1, 1});
  } else {
    auto o = heads("o", kO, NH, C);
    auto dout = heads("dout", kDO, NH, C);
    auto stats = g->tensor(fe::graph::Tensor_attributes()
                               .set_name("stats")
                               .set_uid(kStats)
                               .set_data_type(fe::DataType_t::FLOAT)
                               .set_dim({B, NH, Tn, 1})
                               .set_stride({NH * Tn, Tn, 1, 1}));
    auto options = fe::graph::SDPA_backward_attributes()
                       .set_name("attention_backward")
                       .set_attn_scale(scale)
                       .set_causal_mask(s.causal)
                       .set_deterministic_algorithm(true);  // the same gradients every run
    auto [dq, dk, dv] = g->sdpa_backward(q, k, v, o, dout, stats, options);
    dq->set_output(true).set_uid(kDQ).set_dim({B, NH, Tn, HS}).set_stride({Tn * W, HS, W, 1});
    dk->set_output(true).set_uid(kDK).set_dim({B, NKV, Tn, HS}).set_stride({Tn * W, HS, W, 1});
    dv->set_output(true).set_uid(kDV).set_dim({B, NKV, Tn, HS}).set_stride({Tn * W, HS, W, 1});
  }
  std::string step = failed(g->validate(), "validate");
  if (step.empty()) step = failed(g->build_operation_graph(handle), "build_operation_graph");
  if (step.empty()) step = failed(g->create_execution_plans({fe::HeurMode_t::A}), "create_execution_plans");
  if (step.empty()) step = failed(g->check_support(handle), "check_support");
  if (step.empty()) step = failed(g->build_plans(handle), "build_plans");
  if (!step.empty()) {
    *why = step;
    return nullptr;
  }
  return g;
}

// The graph of a shape, built at its first use; null (and why) where cuDNN cannot run it.
fe::graph::Graph* graph(const Shape& s, std::string* why) {
  Cudnn& c = cudnn();
  if (!c.unavailable.empty()) {
    *why = c.unavailable;
    return nullptr;
  }
  auto it = c.graphs.find(s);
  if (it == c.graphs.end()) {
    std::shared_ptr<fe::graph::Graph> g = build(s, c.handle, why);
    if (g == nullptr) return nullptr;
    it = c.graphs.emplace(s, std::move(g)).first;
  }
  return it->second.get();
}

int64_t workspace_of(fe::graph::Graph& g) {
  int64_t bytes = 0;
  const fe::error_object e = g.get_workspace_size(bytes);
  if (!e.is_good()) throw std::runtime_error("cuDNN attention: get_workspace_size: " + e.err_msg);
  return bytes;
}

// Runs a shape's graph on the runtime's stream with these tensors.
void run(const Shape& s, std::unordered_map<int64_t, void*> tensors) {
  std::string why;
  fe::graph::Graph* g = graph(s, &why);
  if (g == nullptr) {
    throw std::runtime_error(fmt::format("cuDNN attention (B {}, T {}, {} heads, {} key/value heads, head size {}): {}",
                                         s.B, s.Tn, s.NH, s.NKV, s.HS, why));
  }
  const int64_t bytes = workspace_of(*g);
  void* workspace = bytes > 0 ? scratch(static_cast<size_t>(bytes)) : nullptr;
  Cudnn& c = cudnn();
  if (fe::detail::set_stream(c.handle, runtime().stream) != CUDNN_STATUS_SUCCESS)
    throw std::runtime_error("cuDNN attention: cudnnSetStream failed");
  const fe::error_object e = g->execute(c.handle, tensors, workspace);
  if (!e.is_good()) throw std::runtime_error("cuDNN attention: execute: " + e.err_msg);
}

}  // namespace

// scratch (floats) as bf16: qkv (B T W) and the output (B T C) forward; qkv, the output, its gradient and dqkv
// backward: flash_attention_bf16_scratch_size floats hold either.
void flash_attention_bf16_forward(float* out, float* lse, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                                  bool causal, float* scratch, Context<float>& /*ctx*/) {
  const int64_t BT = static_cast<int64_t>(B) * Tn, W = static_cast<int64_t>(NH + 2 * NKV) * HS,
                C = static_cast<int64_t>(NH) * HS;
  auto* qkv16 = static_cast<uint16_t*>(static_cast<void*>(scratch));  // the floats hold bf16 values
  uint16_t* out16 = qkv16 + BT * W;
  round_to_bf16(qkv16, qkv, BT * W);
  run({B, Tn, NH, NKV, HS, causal, false},
      {{kQ, qkv16}, {kK, qkv16 + C}, {kV, qkv16 + C + NKV * HS}, {kO, out16}, {kStats, lse}});
  widen_bf16(out, out16, BT * C);
}

void flash_attention_bf16_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                                   int B, int Tn, int NH, int NKV, int HS, bool causal, float* scratch,
                                   Context<float>& /*ctx*/) {
  const int64_t BT = static_cast<int64_t>(B) * Tn, W = static_cast<int64_t>(NH + 2 * NKV) * HS,
                C = static_cast<int64_t>(NH) * HS;
  auto* qkv16 = static_cast<uint16_t*>(static_cast<void*>(scratch));  // the floats hold bf16 values
  uint16_t* dqkv16 = qkv16 + BT * W;
  uint16_t* out16 = dqkv16 + BT * W;
  uint16_t* dout16 = out16 + BT * C;
  round_to_bf16(qkv16, qkv, BT * W);
  round_to_bf16(out16, out, BT * C);
  round_to_bf16(dout16, dout, BT * C);
  const int64_t kv = NKV * HS;
  run({B, Tn, NH, NKV, HS, causal, true}, {{kQ, qkv16},
                                           {kK, qkv16 + C},
                                           {kV, qkv16 + C + kv},
                                           {kO, out16},
                                           {kDO, dout16},
                                           {kStats, const_cast<float*>(lse)},
                                           {kDQ, dqkv16},
                                           {kDK, dqkv16 + C},
                                           {kDV, dqkv16 + C + kv}});
  widen_bf16(dqkv, dqkv16, BT * W);
}

std::string flash_attention_bf16_check(int B, int Tn, int NH, int NKV, int HS, bool causal, int64_t* workspace_bytes) {
  *workspace_bytes = 0;
  try {
    for (const bool backward : {false, true}) {
      std::string why;
      fe::graph::Graph* g = graph({B, Tn, NH, NKV, HS, causal, backward}, &why);
      if (g == nullptr) return why;
      *workspace_bytes = std::max(*workspace_bytes, workspace_of(*g));
    }
    if (*workspace_bytes > 0) scratch(static_cast<size_t>(*workspace_bytes));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace tessera::ops::cuda
