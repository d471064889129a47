#include "model/transformer.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "model/tp_mappings.hpp"
#include "ops/ops.hpp"

namespace tessera {

LocalDims local_dims(const ModelConfig& m, const ModelShard& shard) {
  const int tp = shard.tp;
  TESSERA_CHECK(tp >= 1 && shard.tp_rank >= 0 && shard.tp_rank < tp, "tensor-parallel rank {} of {}", shard.tp_rank,
                tp);
  LocalDims d;
  d.C = m.d_model;
  d.NH = static_cast<int>(divide(m.n_head, tp, "model.n_head over parallel.tp"));
  d.NKV = static_cast<int>(divide(m.n_kv_head, tp, "model.n_kv_head over parallel.tp"));
  d.HS = m.head_size();
  d.CA = d.NH * d.HS;
  d.QKV = (d.NH + 2 * d.NKV) * d.HS;
  d.F = static_cast<int>(divide(m.d_ff, tp, "model.d_ff over parallel.tp"));
  d.FI = m.activation == Activation::kSwiGLU ? 2 * d.F : d.F;
  d.Vp = m.padded_vocab(tp) / tp;
  d.v0 = shard.tp_rank * d.Vp;
  d.Vn = std::clamp(m.vocab_size - d.v0, 0, d.Vp);
  return d;
}

// Where the table put each tensor (indices, -1 where the architecture has none).
template <typename T>
struct Transformer<T>::Plan {
  int wte = -1, wpe = -1, lnf_w = -1, lnf_b = -1, head = -1;
  std::vector<LayerIndex> layers;
};

template <typename T>
Transformer<T>::Transformer(const ModelConfig& config, int max_batch, int max_seq, const Communicator* tp)
    : config_(config),
      tp_(tp != nullptr ? tp : &self_),
      max_batch_(max_batch),
      max_seq_(max_seq == 0 ? config.max_seq_len : max_seq) {
  TESSERA_CHECK(max_batch > 0, "max_batch {}", max_batch);
  config_.finalize();
  TESSERA_CHECK(max_seq_ > 0 && max_seq_ <= config_.max_seq_len, "max_seq {} outside (0, {}]", max_seq_,
                config_.max_seq_len);
  shard_ = {tp_->rank(), tp_->size()};
  dims_ = local_dims(config_, shard_);
  Plan plan;
  table_ = plan_params(config_, shard_, &plan);
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
ModelSizes Transformer<T>::sizes(const ModelConfig& config, int max_batch, int max_seq, const ModelShard& shard) {
  ModelConfig m = config;
  m.finalize();
  if (max_seq == 0) max_seq = m.max_seq_len;
  const TensorTable table = plan_params(m, shard, nullptr);
  ModelSizes s;
  s.parameters = table.count();
  s.flat_elements = table.total();
  s.activation_elements = activation_elements(local_dims(m, shard), m, max_batch, max_seq);
  // FLOPs are of the whole model, whatever part of it this rank holds
  s.matmul_parameters = shard.tp == 1 ? table.count_in_matmul() : plan_params(m, {}, nullptr).count_in_matmul();
  s.flops_per_token = 6.0 * static_cast<double>(s.matmul_parameters) +
                      12.0 * m.n_layer * static_cast<double>(m.d_model) * static_cast<double>(max_seq);
  return s;
}

template <typename T>
TensorTable Transformer<T>::plan_table(const ModelConfig& config, const ModelShard& shard) {
  ModelConfig m = config;
  m.finalize();
  return plan_params(m, shard, nullptr);
}

template <typename T>
TensorTable Transformer<T>::plan_params(const ModelConfig& m, const ModelShard& shard, Plan* plan) {
  TensorTable table;
  Plan local;
  Plan& ix_out = plan != nullptr ? *plan : local;
  const int64_t C = m.d_model, Vp = m.padded_vocab(shard.tp), F = m.d_ff, QKV = m.qkv_width(), HS = m.head_size();
  const int r = shard.tp_rank, tp = shard.tp;
  const bool layernorm = m.norm == Norm::kLayerNorm;
  const Shape qkv_parts = {m.n_head * HS, m.n_kv_head * HS, m.n_kv_head * HS};          // [q heads | k heads | v heads]
  const Shape fc_parts = m.activation == Activation::kSwiGLU ? Shape{F, F} : Shape{F};  // [gate | up]
  // Embeddings are decayed by default (GPT-2, nanoGPT); the optimizer may exempt them.
  ix_out.wte = table.add_split("embed.wte", {Vp, C}, 0, {}, r, tp, true, m.tie_embeddings);  // vocab-parallel
  if (m.position == Position::kLearned) ix_out.wpe = table.add("embed.wpe", {m.max_seq_len, C}, true, false);
  for (int l = 0; l < m.n_layer; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    auto whole = [&](bool present, const std::string& name, Shape shape) {
      return present ? table.add(p + name, std::move(shape), false, false) : -1;
    };
    // column-parallel: split by output rows (dim 0); row-parallel: by input columns (dim 1)
    auto column = [&](const std::string& name, Shape shape, const Shape& parts, bool matrix) {
      return table.add_split(p + name, std::move(shape), 0, parts, r, tp, matrix, matrix);
    };
    LayerIndex ix{};
    ix.ln1_w = whole(true, "attn_norm.weight", {C});
    ix.ln1_b = whole(layernorm, "attn_norm.bias", {C});
    ix.qkv_w = column("attn.qkv.weight", {QKV, C}, qkv_parts, true);
    ix.qkv_b = m.bias ? column("attn.qkv.bias", {QKV}, qkv_parts, false) : -1;
    ix.proj_w = table.add_split(p + "attn.proj.weight", {C, C}, 1, {}, r, tp, true, true);
    ix.proj_b = whole(m.bias, "attn.proj.bias", {C});
    ix.ln2_w = whole(true, "mlp_norm.weight", {C});
    ix.ln2_b = whole(layernorm, "mlp_norm.bias", {C});
    ix.fc_w = column("mlp.fc.weight", {m.ffn_in_width(), C}, fc_parts, true);
    ix.fc_b = m.bias ? column("mlp.fc.bias", {m.ffn_in_width()}, fc_parts, false) : -1;
    ix.fcproj_w = table.add_split(p + "mlp.proj.weight", {C, F}, 1, {}, r, tp, true, true);
    ix.fcproj_b = whole(m.bias, "mlp.proj.bias", {C});
    ix_out.layers.push_back(ix);
  }
  ix_out.lnf_w = table.add("final_norm.weight", {C}, false, false);
  if (layernorm) ix_out.lnf_b = table.add("final_norm.bias", {C}, false, false);
  if (!m.tie_embeddings) ix_out.head = table.add_split("head.weight", {Vp, C}, 0, {}, r, tp, true, true);
  return table;
}

// Elements of every activation that plan_activations lays out (keep the two in step; the plan checks its total).
template <typename T>
int64_t Transformer<T>::activation_elements(const LocalDims& d, const ModelConfig& m, int64_t max_batch,
                                            int64_t max_seq) {
  // in double: exact for any plan that fits in memory, and no overflow for one that does not (it saturates)
  const double BT = static_cast<double>(max_batch) * static_cast<double>(max_seq);
  const double C = d.C, CA = d.CA, QKV = d.QKV, F = d.F, FI = d.FI, Vp = d.Vp;
  const double probs = static_cast<double>(max_batch) * d.NH * static_cast<double>(max_seq) * max_seq;
  const double per_layer = BT * (C + 2 + QKV + CA + C + C + 2 + FI + F + C) + probs;
  const double total = BT * C                               // encoded
                       + per_layer * m.n_layer              // layers
                       + BT * (C + 2) + BT * Vp             // final norm, logits
                       + BT * 4                             // losses, lse, cross-entropy sums
                       + BT * C                             // row-parallel output
                       + BT * (C + C + QKV + CA + FI + F);  // backward scratch
  return total < 0x1p56 ? static_cast<int64_t>(total) : int64_t{1} << 56;
}

template <typename T>
void Transformer<T>::plan_activations() {
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  const int64_t BT = static_cast<int64_t>(max_batch_) * max_seq_;
  const int64_t C = d.C, CA = d.CA, QKV = d.QKV, F = d.F, FI = d.FI, Vp = d.Vp;
  const int64_t probs = static_cast<int64_t>(max_batch_) * d.NH * max_seq_ * max_seq_;
  const int64_t total = activation_elements(d, m, max_batch_, max_seq_);
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
    a.atty = take(BT * CA);
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
  ce_sums_ = take(BT * 2);
  rowpar_ = take(BT * C);
  dres_ = take(BT * C);
  dln_ = take(BT * C);
  dqkv_ = take(BT * QKV);
  datty_ = take(BT * CA);
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
  std::vector<T> whole;  // a split tensor is drawn whole, then this rank's slice kept
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
    // Draw the global tensor in order from (seed, name): every layout sees the same numbers.
    const bool split = info.shards > 1;
    T* out = p;
    if (split) {
      whole.resize(static_cast<size_t>(numel(info.global_shape)));
      out = whole.data();
    }
    Rng rng(seed, stream_id(info.name));
    const int64_t rows = info.global_shape[0];
    const int64_t row = numel(info.global_shape) / rows;
    const int64_t rows_real = info.name == "embed.wte" || info.name == "head.weight" ? m.vocab_size : rows;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < row; ++c) {
        const double z = rng.normal();
        out[r * row + c] = r < rows_real ? static_cast<T>(z * stddev) : T(0);
      }
    }
    if (split) copy_to_shard(info, whole.data(), info.global_shape, p);
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
  return loss_forward(B * Tn);
}

template <typename T>
double Transformer<T>::forward_backward(const int32_t* tokens, const int32_t* targets, int B, int Tn, T dloss) {
  forward_to_logits(tokens, targets, B, Tn);
  const ModelConfig& m = config_;
  double loss = 0;
  if (tp_->size() == 1) {  // one pass over each row of logits
    loss =
        ops::cross_entropy_forward_backward(logits_, losses_, targets_.data(), dloss, B * Tn, m.vocab_size, dims_.Vp);
  } else {
    loss = loss_forward(B * Tn);
    loss_backward(dloss, B * Tn);
  }
  backward_from_dlogits();
  return loss;
}

// The loss of the last forward's logits: on one rank the fused cross-entropy; under tensor parallelism the
// vocab-parallel one (local max -> all-reduce MAX -> local sum of exponentials and the owner's target logit ->
// all-reduce SUM). Leaves lse_ for the backward.
template <typename T>
double Transformer<T>::loss_forward(int N) {
  const LocalDims& d = dims_;
  if (tp_->size() == 1)
    return ops::cross_entropy_forward(losses_, lse_, logits_, targets_.data(), N, config_.vocab_size, d.Vp);
  ops::vocab_parallel_max(lse_, logits_, N, d.Vn, d.Vp);
  tp_->all_reduce(lse_, N, ReduceOp::kMax);  // lse_ holds the row maxima for now
  ops::vocab_parallel_sum_exp(ce_sums_, logits_, lse_, targets_.data(), N, d.v0, d.Vn, d.Vp);
  tp_->all_reduce_sum(ce_sums_, int64_t{2} * N);
  double total = 0;
  for (int i = 0; i < N; ++i) {
    lse_[i] += std::log(ce_sums_[2 * i]);
    losses_[i] = targets_[static_cast<size_t>(i)] >= 0 ? lse_[i] - ce_sums_[2 * i + 1] : T(0);
    total += static_cast<double>(losses_[i]);
  }
  return total;
}

template <typename T>
void Transformer<T>::loss_backward(T dloss, int N) {
  const LocalDims& d = dims_;
  if (tp_->size() == 1) {
    ops::cross_entropy_backward(logits_, lse_, targets_.data(), dloss, N, config_.vocab_size, d.Vp);
  } else {
    ops::vocab_parallel_backward(logits_, lse_, targets_.data(), dloss, N, d.v0, d.Vn, d.Vp);
  }
}

template <typename T>
void Transformer<T>::forward_to_logits(const int32_t* tokens, const int32_t* targets, int B, int Tn) {
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  TESSERA_CHECK(B > 0 && B <= max_batch_ && Tn > 0 && Tn <= max_seq_,
                "forward shape ({}, {}) outside the planned ({}, {})", B, Tn, max_batch_, max_seq_);
  const int N = B * Tn, C = d.C, V = m.vocab_size;
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
  const int64_t NC = static_cast<int64_t>(N) * C;

  // vocab-parallel embedding: each rank its rows (the position on tp rank 0 only), then tp_reduce
  ops::embedding_forward(encoded_, tokens_.data(), tensor(P, wte_), shard_.tp_rank == 0 ? tensor(P, wpe_) : nullptr, B,
                         Tn, C, d.v0, d.Vp);
  tp_reduce_forward(*tp_, encoded_, NC);
  const T* x = encoded_;  // (B, T, C) residual stream entering the layer
  for (int l = 0; l < m.n_layer; ++l) {
    const LayerParams w = layer_view(P, l);
    const LayerActs& a = layers_[static_cast<size_t>(l)];
    // attention: column-parallel QKV (tp_copy), this rank's heads, row-parallel projection (tp_reduce)
    norm_forward(a.ln1, a.ln1_mean, a.ln1_rstd, x, w.ln1_w, w.ln1_b, N);
    ops::matmul_forward(a.qkv, a.ln1, w.qkv_w, w.qkv_b, N, C, d.QKV, false);
    if (m.position == Position::kRope)
      ops::rope_forward(a.qkv, rope_cos_.data(), rope_sin_.data(), B, Tn, d.NH, d.NKV, d.HS);
    ops::attention_forward(a.atty, a.probs, a.qkv, B, Tn, d.NH, d.NKV, d.HS, m.objective == Objective::kCausal);
    ops::matmul_forward(rowpar_, a.atty, w.proj_w, static_cast<const T*>(nullptr), N, d.CA, C, false);
    tp_reduce_forward(*tp_, rowpar_, NC);
    ops::residual_forward(a.res2, x, rowpar_, w.proj_b, N, C);  // res2 = x + (proj(atty) + b)
    // MLP: column-parallel first linear, row-parallel projection
    norm_forward(a.ln2, a.ln2_mean, a.ln2_rstd, a.res2, w.ln2_w, w.ln2_b, N);
    ops::matmul_forward(a.fch, a.ln2, w.fc_w, w.fc_b, N, C, d.FI, false);
    if (m.activation == Activation::kGelu) {
      ops::gelu_forward(a.act, a.fch, static_cast<int64_t>(N) * d.F);
    } else {
      ops::swiglu_forward(a.act, a.fch, N, d.F);
    }
    ops::matmul_forward(rowpar_, a.act, w.fcproj_w, static_cast<const T*>(nullptr), N, d.F, C, false);
    tp_reduce_forward(*tp_, rowpar_, NC);
    ops::residual_forward(a.res3, a.res2, rowpar_, w.fcproj_b, N, C);  // res3 = res2 + (proj(act) + b)
    x = a.res3;
  }
  norm_forward(lnf_, lnf_mean_, lnf_rstd_, x, tensor(P, lnf_w_), tensor(P, lnf_b_), N);
  // the head is column-parallel over the vocabulary: this rank's logits (N, Vp_tp)
  const T* head = m.tie_embeddings ? tensor(P, wte_) : tensor(P, head_);
  ops::matmul_forward(logits_, lnf_, head, static_cast<const T*>(nullptr), N, C, d.Vp, false);
}

template <typename T>
void Transformer<T>::backward(T dloss) {
  TESSERA_CHECK(B_ > 0, "backward before forward");
  loss_backward(dloss, B_ * T_);  // logits_ now holds dlogits
  backward_from_dlogits();
}

template <typename T>
void Transformer<T>::backward_from_dlogits() {
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  const int B = B_, Tn = T_, N = B * Tn, C = d.C;
  const int64_t NC = static_cast<int64_t>(N) * C;
  T* P = params_.data();
  T* G = grads_.data();

  const T* head = m.tie_embeddings ? tensor(P, wte_) : tensor(P, head_);
  T* dhead = m.tie_embeddings ? tensor(G, wte_) : tensor(G, head_);
  ops::matmul_backward(dln_, dhead, static_cast<T*>(nullptr), logits_, lnf_, head, N, C, d.Vp);
  tp_copy_backward(*tp_, dln_, NC);
  const T* last = m.n_layer > 0 ? layers_.back().res3 : encoded_;
  std::memset(dres_, 0, static_cast<size_t>(NC) * sizeof(T));
  norm_backward(dres_, tensor(G, lnf_w_), tensor(G, lnf_b_), dln_, last, tensor(P, lnf_w_), lnf_mean_, lnf_rstd_, N);

  // dres_ carries d(loss)/d(residual stream) down through the layers (the same on every tensor-parallel rank).
  for (int l = m.n_layer - 1; l >= 0; --l) {
    const LayerParams w = layer_view(P, l);
    const LayerParams dw = layer_view(G, l);
    const LayerActs& a = layers_[static_cast<size_t>(l)];
    const T* x = l > 0 ? layers_[static_cast<size_t>(l - 1)].res3 : encoded_;
    // res3 = res2 + (act @ Wp^T + bp): the row-parallel backward needs no communication (tp_reduce's identity)
    ops::matmul_backward(dact_, dw.fcproj_w, dw.fcproj_b, dres_, a.act, w.fcproj_w, N, d.F, C);
    if (m.activation == Activation::kGelu) {
      ops::gelu_backward(dfch_, a.fch, dact_, static_cast<int64_t>(N) * d.F);
    } else {
      ops::swiglu_backward(dfch_, a.fch, dact_, N, d.F);
    }
    ops::matmul_backward(dln_, dw.fc_w, dw.fc_b, dfch_, a.ln2, w.fc_w, N, C, d.FI);
    tp_copy_backward(*tp_, dln_, NC);
    norm_backward(dres_, dw.ln2_w, dw.ln2_b, dln_, a.res2, w.ln2_w, a.ln2_mean, a.ln2_rstd, N);  // now d(res2)
    // res2 = x + (atty @ Wo^T + bo)
    ops::matmul_backward(datty_, dw.proj_w, dw.proj_b, dres_, a.atty, w.proj_w, N, d.CA, C);
    ops::attention_backward(dqkv_, datty_, a.qkv, a.probs, B, Tn, d.NH, d.NKV, d.HS, ctx_);
    if (m.position == Position::kRope)
      ops::rope_backward(dqkv_, rope_cos_.data(), rope_sin_.data(), B, Tn, d.NH, d.NKV, d.HS);
    ops::matmul_backward(dln_, dw.qkv_w, dw.qkv_b, dqkv_, a.ln1, w.qkv_w, N, C, d.QKV);
    tp_copy_backward(*tp_, dln_, NC);
    norm_backward(dres_, dw.ln1_w, dw.ln1_b, dln_, x, w.ln1_w, a.ln1_mean, a.ln1_rstd, N);  // now d(x)
  }
  ops::embedding_backward(tensor(G, wte_), tensor(G, wpe_), dres_, tokens_.data(), B, Tn, C, d.v0, d.Vp);
  B_ = 0;  // the logits are spent: a second backward needs a new forward
}

template <typename T>
double Transformer<T>::flops_per_token(int Tn) const {
  const ModelConfig& m = config_;
  const int64_t matmul_parameters =
      shard_.tp == 1 ? table_.count_in_matmul() : plan_params(m, {}, nullptr).count_in_matmul();
  return 6.0 * static_cast<double>(matmul_parameters) +
         12.0 * m.n_layer * static_cast<double>(m.d_model) * static_cast<double>(Tn);
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace tessera
