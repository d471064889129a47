#include "model/transformer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "ops/ops.hpp"

namespace tessera {

// Where the table put each tensor (indices, -1 where the architecture has none).
template <typename T>
struct Transformer<T>::Plan {
  int wte = -1, wpe = -1, lnf_w = -1, lnf_b = -1, head = -1;
  std::vector<LayerIndex> layers;
};

template <typename T>
Transformer<T>::Transformer(const ModelConfig& config, int max_batch, int max_seq)
    : config_(config), max_batch_(max_batch), max_seq_(max_seq == 0 ? config.max_seq_len : max_seq) {
  TESSERA_CHECK(max_batch > 0, "max_batch {}", max_batch);
  config_.finalize();
  TESSERA_CHECK(max_seq_ > 0 && max_seq_ <= config_.max_seq_len, "max_seq {} outside (0, {}]", max_seq_,
                config_.max_seq_len);
  Plan plan;
  table_ = plan_params(config_, &plan);
  wte_ = plan.wte;
  wpe_ = plan.wpe;
  lnf_w_ = plan.lnf_w;
  lnf_b_ = plan.lnf_b;
  head_ = plan.head;
  layer_index_ = std::move(plan.layers);
  params_.assign(static_cast<size_t>(table_.total()), T(0));
  grads_.assign(static_cast<size_t>(table_.total()), T(0));
  plan_activations();
}

template <typename T>
ModelSizes Transformer<T>::sizes(const ModelConfig& config, int max_batch, int max_seq) {
  ModelConfig m = config;
  m.finalize();
  if (max_seq == 0) max_seq = m.max_seq_len;
  const TensorTable table = plan_params(m, nullptr);
  ModelSizes s;
  s.parameters = table.count();
  s.matmul_parameters = table.count_in_matmul();
  s.flat_elements = table.total();
  s.activation_elements = activation_elements(m, max_batch, max_seq);
  s.flops_per_token = 6.0 * static_cast<double>(s.matmul_parameters) +
                      12.0 * m.n_layer * static_cast<double>(m.d_model) * static_cast<double>(max_seq);
  return s;
}

template <typename T>
TensorTable Transformer<T>::plan_params(const ModelConfig& m, Plan* plan) {
  TensorTable table;
  Plan local;
  Plan& ix_out = plan != nullptr ? *plan : local;
  const int64_t C = m.d_model, Vp = m.padded_vocab(), F = m.d_ff, QKV = m.qkv_width();
  const bool layernorm = m.norm == Norm::kLayerNorm;
  // Embeddings are decayed by default (GPT-2, nanoGPT); the optimizer may exempt them.
  ix_out.wte = table.add("embed.wte", {Vp, C}, true, m.tie_embeddings);
  if (m.position == Position::kLearned) ix_out.wpe = table.add("embed.wpe", {m.max_seq_len, C}, true, false);
  for (int l = 0; l < m.n_layer; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    auto optional = [&](bool present, const std::string& name, Shape shape) {
      return present ? table.add(p + name, std::move(shape), false, false) : -1;
    };
    LayerIndex ix{};
    ix.ln1_w = table.add(p + "attn_norm.weight", {C}, false, false);
    ix.ln1_b = optional(layernorm, "attn_norm.bias", {C});
    ix.qkv_w = table.add(p + "attn.qkv.weight", {QKV, C}, true, true);
    ix.qkv_b = optional(m.bias, "attn.qkv.bias", {QKV});
    ix.proj_w = table.add(p + "attn.proj.weight", {C, C}, true, true);
    ix.proj_b = optional(m.bias, "attn.proj.bias", {C});
    ix.ln2_w = table.add(p + "mlp_norm.weight", {C}, false, false);
    ix.ln2_b = optional(layernorm, "mlp_norm.bias", {C});
    ix.fc_w = table.add(p + "mlp.fc.weight", {m.ffn_in_width(), C}, true, true);
    ix.fc_b = optional(m.bias, "mlp.fc.bias", {m.ffn_in_width()});
    ix.fcproj_w = table.add(p + "mlp.proj.weight", {C, F}, true, true);
    ix.fcproj_b = optional(m.bias, "mlp.proj.bias", {C});
    ix_out.layers.push_back(ix);
  }
  ix_out.lnf_w = table.add("final_norm.weight", {C}, false, false);
  if (layernorm) ix_out.lnf_b = table.add("final_norm.bias", {C}, false, false);
  if (!m.tie_embeddings) ix_out.head = table.add("head.weight", {Vp, C}, true, true);
  return table;
}

// Elements of every activation that plan_activations lays out (keep the two in step; the plan checks its total).
template <typename T>
int64_t Transformer<T>::activation_elements(const ModelConfig& m, int64_t max_batch, int64_t max_seq) {
  // in double: exact for any plan that fits in memory, and no overflow for one that does not (it saturates)
  const double BT = static_cast<double>(max_batch) * static_cast<double>(max_seq);
  const double C = m.d_model, QKV = m.qkv_width(), F = m.d_ff, FI = m.ffn_in_width(), Vp = m.padded_vocab();
  const double probs = static_cast<double>(max_batch) * m.n_head * static_cast<double>(max_seq) * max_seq;
  const double per_layer = BT * (C + 2 + QKV + C + C + C + 2 + FI + F + C) + probs;
  const double total = BT * C                              // encoded
                       + per_layer * m.n_layer             // layers
                       + BT * (C + 2) + BT * Vp            // final norm, logits
                       + BT * 2                            // losses, lse
                       + BT * (C + C + QKV + C + FI + F);  // backward scratch
  return total < 0x1p56 ? static_cast<int64_t>(total) : int64_t{1} << 56;
}

template <typename T>
void Transformer<T>::plan_activations() {
  const ModelConfig& m = config_;
  const int64_t BT = static_cast<int64_t>(max_batch_) * max_seq_;
  const int64_t C = m.d_model, QKV = m.qkv_width(), F = m.d_ff, FI = m.ffn_in_width(), Vp = m.padded_vocab();
  const int64_t probs = static_cast<int64_t>(max_batch_) * m.n_head * max_seq_ * max_seq_;
  const int64_t total = activation_elements(m, max_batch_, max_seq_);
  acts_.assign(static_cast<size_t>(total), T(0));
  T* p = acts_.data();
  auto take = [&p](int64_t n) {
    T* out = p;
    p += n;
    return out;
  };
  encoded_ = take(BT * C);
  for (int l = 0; l < m.n_layer; ++l) {
    LayerActs a{};
    a.ln1 = take(BT * C);
    a.ln1_mean = take(BT);
    a.ln1_rstd = take(BT);
    a.qkv = take(BT * QKV);
    a.probs = take(probs);
    a.atty = take(BT * C);
    a.res2 = take(BT * C);
    a.ln2 = take(BT * C);
    a.ln2_mean = take(BT);
    a.ln2_rstd = take(BT);
    a.fch = take(BT * FI);
    a.act = take(BT * F);
    a.res3 = take(BT * C);
    layers_.push_back(a);
  }
  lnf_ = take(BT * C);
  lnf_mean_ = take(BT);
  lnf_rstd_ = take(BT);
  logits_ = take(BT * Vp);
  losses_ = take(BT);
  lse_ = take(BT);
  dres_ = take(BT * C);
  dln_ = take(BT * C);
  dqkv_ = take(BT * QKV);
  datty_ = take(BT * C);
  dfch_ = take(BT * FI);
  dact_ = take(BT * F);
  TESSERA_CHECK(p == acts_.data() + total, "activation plan mismatch");

  if (m.position == Position::kRope) {
    const int64_t n = static_cast<int64_t>(m.max_seq_len) * (m.head_size() / 2);
    rope_cos_.resize(static_cast<size_t>(n));
    rope_sin_.resize(static_cast<size_t>(n));
    ops::rope_tables(rope_cos_.data(), rope_sin_.data(), m.max_seq_len, m.head_size(), m.rope_theta);
  }
  tokens_.assign(static_cast<size_t>(BT), 0);
  targets_.assign(static_cast<size_t>(BT), -1);
  ctx_.reserve_scratch(ops::attention_scratch_size(max_seq_));
}

template <typename T>
typename Transformer<T>::LayerParams Transformer<T>::layer_view(T* base, int l) const {
  const LayerIndex& ix = layer_index_[static_cast<size_t>(l)];
  return {tensor(base, ix.ln1_w),  tensor(base, ix.ln1_b),  tensor(base, ix.qkv_w),    tensor(base, ix.qkv_b),
          tensor(base, ix.proj_w), tensor(base, ix.proj_b), tensor(base, ix.ln2_w),    tensor(base, ix.ln2_b),
          tensor(base, ix.fc_w),   tensor(base, ix.fc_b),   tensor(base, ix.fcproj_w), tensor(base, ix.fcproj_b)};
}

template <typename T>
void Transformer<T>::init_weights(uint64_t seed) {
  const ModelConfig& m = config_;
  // GPT-2 initialisation: N(0, std) for matrices, std / sqrt(2L) for the projections into the residual stream,
  // zero biases, unit norm weights; the vocabulary padding rows stay zero.
  const double residual_std = m.init_std / std::sqrt(2.0 * m.n_layer);
  for (const TensorInfo& info : table_.entries()) {
    T* p = params_.data() + info.offset;
    const bool is_norm = info.name.find("norm.") != std::string::npos;
    const bool is_bias = info.name.ends_with(".bias");
    if (is_norm && !is_bias) {
      std::fill(p, p + info.numel, T(1));
      continue;
    }
    if (is_bias) {
      std::fill(p, p + info.numel, T(0));
      continue;
    }
    const bool residual = info.name.ends_with("attn.proj.weight") || info.name.ends_with("mlp.proj.weight");
    const double stddev = residual ? residual_std : m.init_std;
    // Draw the global tensor in order and keep this shard's rows: every layout sees the same numbers.
    Rng rng(seed, stream_id(info.name));
    const int64_t row = info.numel / info.shape[0];
    const int64_t rows_real = info.name == "embed.wte" || info.name == "head.weight" ? m.vocab_size : info.shape[0];
    for (int64_t r = 0; r < info.shape[0]; ++r) {
      for (int64_t c = 0; c < row; ++c) {
        const double z = rng.normal();
        p[r * row + c] = r < rows_real ? static_cast<T>(z * stddev) : T(0);
      }
    }
  }
}

template <typename T>
void Transformer<T>::zero_grads() {
  std::memset(grads_.data(), 0, grads_.size() * sizeof(T));
}

template <typename T>
void Transformer<T>::norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N) const {
  if (config_.norm == Norm::kLayerNorm) {
    ops::layernorm_forward(out, mean, rstd, inp, w, b, N, config_.d_model, config_.norm_eps);
  } else {
    ops::rmsnorm_forward(out, rstd, inp, w, N, config_.d_model, config_.norm_eps);
  }
}

template <typename T>
void Transformer<T>::norm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                                   const T* rstd, int N) const {
  if (config_.norm == Norm::kLayerNorm) {
    ops::layernorm_backward(dinp_accum, dw, db, dout, inp, w, mean, rstd, N, config_.d_model);
  } else {
    ops::rmsnorm_backward(dinp_accum, dw, dout, inp, w, rstd, N, config_.d_model);
  }
}

template <typename T>
double Transformer<T>::forward(const int32_t* tokens, const int32_t* targets, int B, int Tn) {
  forward_to_logits(tokens, targets, B, Tn);
  const ModelConfig& m = config_;
  return ops::cross_entropy_forward(losses_, lse_, logits_, targets_.data(), B * Tn, m.vocab_size, m.padded_vocab());
}

template <typename T>
double Transformer<T>::forward_backward(const int32_t* tokens, const int32_t* targets, int B, int Tn, T dloss) {
  forward_to_logits(tokens, targets, B, Tn);
  const ModelConfig& m = config_;
  const double loss = ops::cross_entropy_forward_backward(logits_, losses_, targets_.data(), dloss, B * Tn,
                                                          m.vocab_size, m.padded_vocab());
  backward_from_dlogits();
  return loss;
}

template <typename T>
void Transformer<T>::forward_to_logits(const int32_t* tokens, const int32_t* targets, int B, int Tn) {
  const ModelConfig& m = config_;
  TESSERA_CHECK(B > 0 && B <= max_batch_ && Tn > 0 && Tn <= max_seq_,
                "forward shape ({}, {}) outside the planned ({}, {})", B, Tn, max_batch_, max_seq_);
  const int N = B * Tn, C = m.d_model, NH = m.n_head, NKV = m.n_kv_head, HS = m.head_size();
  const int QKV = m.qkv_width(), F = m.d_ff, FI = m.ffn_in_width(), V = m.vocab_size, Vp = m.padded_vocab();
  for (int i = 0; i < N; ++i) {
    TESSERA_CHECK(tokens[i] >= 0 && tokens[i] < V, "token {} at position {} outside the vocabulary of {}", tokens[i], i,
                  V);
  }
  std::copy(tokens, tokens + N, tokens_.begin());
  if (targets != nullptr) {
    std::copy(targets, targets + N, targets_.begin());
  } else {
    std::fill(targets_.begin(), targets_.begin() + N, -1);
  }
  B_ = B;
  T_ = Tn;
  T* P = params_.data();

  ops::embedding_forward(encoded_, tokens_.data(), tensor(P, wte_), tensor(P, wpe_), B, Tn, C);
  const T* x = encoded_;  // (B, T, C) residual stream entering the layer
  for (int l = 0; l < m.n_layer; ++l) {
    const LayerParams w = layer_view(P, l);
    const LayerActs& a = layers_[static_cast<size_t>(l)];
    norm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, w.ln1_w, w.ln1_b, N);
    ops::matmul_forward(a.qkv, a.ln1, w.qkv_w, w.qkv_b, N, C, QKV, false);
    if (m.position == Position::kRope) ops::rope_forward(a.qkv, rope_cos_.data(), rope_sin_.data(), B, Tn, NH, NKV, HS);
    ops::attention_forward(a.atty, a.probs, a.qkv, B, Tn, NH, NKV, HS, m.objective == Objective::kCausal);
    std::copy(x, x + static_cast<int64_t>(N) * C, a.res2);  // res2 = x + proj(atty)
    ops::matmul_forward(a.res2, a.atty, w.proj_w, w.proj_b, N, C, C, true);
    norm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, w.ln2_w, w.ln2_b, N);
    ops::matmul_forward(a.fch, a.ln2, w.fc_w, w.fc_b, N, C, FI, false);
    if (m.activation == Activation::kGelu) {
      ops::gelu_forward(a.act, a.fch, static_cast<int64_t>(N) * F);
    } else {
      ops::swiglu_forward(a.act, a.fch, N, F);
    }
    std::copy(a.res2, a.res2 + static_cast<int64_t>(N) * C, a.res3);  // res3 = res2 + proj(act)
    ops::matmul_forward(a.res3, a.act, w.fcproj_w, w.fcproj_b, N, F, C, true);
    x = a.res3;
  }
  norm_forward(lnf_, lnf_mean_, lnf_rstd_, x, tensor(P, lnf_w_), tensor(P, lnf_b_), N);
  const T* head = m.tie_embeddings ? tensor(P, wte_) : tensor(P, head_);
  ops::matmul_forward(logits_, lnf_, head, static_cast<const T*>(nullptr), N, C, Vp, false);
}

template <typename T>
void Transformer<T>::backward(T dloss) {
  TESSERA_CHECK(B_ > 0, "backward before forward");
  ops::cross_entropy_backward(logits_, lse_, targets_.data(), dloss, B_ * T_, config_.vocab_size,
                              config_.padded_vocab());  // logits_ now holds dlogits
  backward_from_dlogits();
}

template <typename T>
void Transformer<T>::backward_from_dlogits() {
  const ModelConfig& m = config_;
  const int B = B_, Tn = T_, N = B * Tn, C = m.d_model, NH = m.n_head, NKV = m.n_kv_head, HS = m.head_size();
  const int QKV = m.qkv_width(), F = m.d_ff, FI = m.ffn_in_width(), Vp = m.padded_vocab();
  T* P = params_.data();
  T* G = grads_.data();

  const T* head = m.tie_embeddings ? tensor(P, wte_) : tensor(P, head_);
  T* dhead = m.tie_embeddings ? tensor(G, wte_) : tensor(G, head_);
  ops::matmul_backward(dln_, dhead, static_cast<T*>(nullptr), logits_, lnf_, head, N, C, Vp);
  const T* last = m.n_layer > 0 ? layers_.back().res3 : encoded_;
  std::memset(dres_, 0, static_cast<size_t>(N) * C * sizeof(T));
  norm_backward(dres_, tensor(G, lnf_w_), tensor(G, lnf_b_), dln_, last, tensor(P, lnf_w_), lnf_mean_, lnf_rstd_, N);

  // dres_ carries d(loss)/d(residual stream) down through the layers.
  for (int l = m.n_layer - 1; l >= 0; --l) {
    const LayerParams w = layer_view(P, l);
    const LayerParams dw = layer_view(G, l);
    const LayerActs& a = layers_[static_cast<size_t>(l)];
    const T* x = l > 0 ? layers_[static_cast<size_t>(l - 1)].res3 : encoded_;
    // res3 = res2 + act @ Wp^T + bp
    ops::matmul_backward(dact_, dw.fcproj_w, dw.fcproj_b, dres_, a.act, w.fcproj_w, N, F, C);
    if (m.activation == Activation::kGelu) {
      ops::gelu_backward(dfch_, a.fch, dact_, static_cast<int64_t>(N) * F);
    } else {
      ops::swiglu_backward(dfch_, a.fch, dact_, N, F);
    }
    ops::matmul_backward(dln_, dw.fc_w, dw.fc_b, dfch_, a.ln2, w.fc_w, N, C, FI);
    norm_backward(dres_, dw.ln2_w, dw.ln2_b, dln_, a.res2, w.ln2_w, a.ln2_mean, a.ln2_rstd, N);  // now d(res2)
    // res2 = x + atty @ Wo^T + bo
    ops::matmul_backward(datty_, dw.proj_w, dw.proj_b, dres_, a.atty, w.proj_w, N, C, C);
    ops::attention_backward(dqkv_, datty_, a.qkv, a.probs, B, Tn, NH, NKV, HS, ctx_);
    if (m.position == Position::kRope)
      ops::rope_backward(dqkv_, rope_cos_.data(), rope_sin_.data(), B, Tn, NH, NKV, HS);
    ops::matmul_backward(dln_, dw.qkv_w, dw.qkv_b, dqkv_, a.ln1, w.qkv_w, N, C, QKV);
    norm_backward(dres_, dw.ln1_w, dw.ln1_b, dln_, x, w.ln1_w, a.ln1_mean, a.ln1_rstd, N);  // now d(x)
  }
  ops::embedding_backward(tensor(G, wte_), tensor(G, wpe_), dres_, tokens_.data(), B, Tn, C);
  B_ = 0;  // the logits are spent: a second backward needs a new forward
}

template <typename T>
double Transformer<T>::flops_per_token(int Tn) const {
  const ModelConfig& m = config_;
  return 6.0 * static_cast<double>(table_.count_in_matmul()) +
         12.0 * m.n_layer * static_cast<double>(m.d_model) * static_cast<double>(Tn);
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace tessera
