// The transformer's layers and pipeline chunks, forward and backward, with the tensor-parallel communication of
// each layer (model/tp_mappings.hpp) where Megatron puts it.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/check.hpp"
#include "model/tp_mappings.hpp"
#include "model/transformer.hpp"
#include "ops/ops.hpp"

namespace tessera {

template <typename T>
void Transformer<T>::norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N) const {
  if (config_.norm == Norm::kLayerNorm) {
    ops_->layernorm_forward(out, mean, rstd, inp, w, b, N, config_.d_model, config_.norm_eps);
  } else {
    ops_->rmsnorm_forward(out, rstd, inp, w, N, config_.d_model, config_.norm_eps);
  }
}

template <typename T>
void Transformer<T>::residual_norm_forward(T* res, T* out, T* mean, T* rstd, const T* x, const T* y, const T* bias,
                                           const T* w, const T* b, int N) const {
  if (config_.norm == Norm::kLayerNorm) {
    ops_->residual_layernorm_forward(res, out, mean, rstd, x, y, bias, w, b, N, config_.d_model, config_.norm_eps);
  } else {
    ops_->residual_rmsnorm_forward(res, out, rstd, x, y, bias, w, N, config_.d_model, config_.norm_eps);
  }
}

// A linear layer of the model in its precision (train.dtype). w points into params_; under bf16 the product reads
// the weight's bf16 copy at the same offset, and the activation and gradient operands go through bf16_scratch_.
template <typename T>
void Transformer<T>::linear_forward(T* out, const T* inp, const T* w, const T* bias, int N, int IC, int OC) {
  if constexpr (std::is_same_v<T, float>) {
    if (shard_.dtype == DType::kBf16) {
      ops_->matmul_forward_bf16(out, inp, bf16_weight(w), bias, N, IC, OC, false, ops::bf16_blocks(N, IC, OC),
                                bf16_scratch_);
      return;
    }
  }
  ops_->matmul_forward(out, inp, w, bias, N, IC, OC, false);
}

// Attention with bf16 operands (train.attention = "cudnn"), through bf16_scratch_; float models only (checked at
// construction).
template <typename T>
void Transformer<T>::bf16_attention_forward(const LayerActs& a, int B, int Tn, bool causal) {
  if constexpr (std::is_same_v<T, float>) {
    const LocalDims& d = dims_;
    ops_->flash_attention_bf16_forward(a.atty, a.softmax, a.qkv, B, Tn, d.NH, d.NKV, d.HS, causal, bf16_scratch_, ctx_);
  }
}

template <typename T>
void Transformer<T>::bf16_attention_backward(const LayerActs& a, int B, int Tn, bool causal) {
  if constexpr (std::is_same_v<T, float>) {
    const LocalDims& d = dims_;
    ops_->flash_attention_bf16_backward(dqkv_, datty_, a.qkv, a.atty, a.softmax, B, Tn, d.NH, d.NKV, d.HS, causal,
                                        bf16_scratch_, ctx_);
  }
}

template <typename T>
void Transformer<T>::linear_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int N, int IC,
                                     int OC) {
  if constexpr (std::is_same_v<T, float>) {
    if (shard_.dtype == DType::kBf16) {
      ops_->matmul_backward_bf16(dinp, dw, dbias, dout, inp, bf16_weight(w), N, IC, OC, ops::bf16_blocks(N, IC, OC),
                                 bf16_scratch_);
      return;
    }
  }
  ops_->matmul_backward(dinp, dw, dbias, dout, inp, w, N, IC, OC);
}

template <typename T>
void Transformer<T>::refresh_bf16_params() {
  if constexpr (std::is_same_v<T, float>) {
    if (shard_.dtype != DType::kBf16 || !bf16_stale_) return;
    ops_->round_to_bf16(params_bf16_.data(), params_.data(), table_.total());
    bf16_stale_ = false;
  }
}

template <typename T>
void Transformer<T>::norm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                                   const T* rstd, int N) const {
  if (config_.norm == Norm::kLayerNorm) {
    ops_->layernorm_backward(dinp_accum, dw, db, dout, inp, w, mean, rstd, N, config_.d_model);
  } else {
    ops_->rmsnorm_backward(dinp_accum, dw, dout, inp, w, rstd, N, config_.d_model);
  }
}

// One layer: x (N_sp, C) -> a.res3 (N_sp, C). N_sp: this rank's rows of the residual stream (N / tp under sequence
// parallelism: rows.first elements into a full buffer; else all N).
template <typename T>
void Transformer<T>::layer_forward(int l, const LayerActs& a, const T* x, int B, int Tn) {
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  const int N = B * Tn, C = d.C;
  const LocalRows rows = local_rows(B, Tn);
  const LayerParams w = layer_view(params_.data(), l);
  // attention: the norm on this rank's rows, entering the column-parallel QKV (tp_copy / tp_gather), this rank's
  // heads, leaving the row-parallel projection (tp_reduce / tp_scatter), then bias and residual
  norm_forward(a.ln1 + rows.first, a.ln1_mean, a.ln1_rstd, x, w.ln1_w, w.ln1_b, rows.N_sp);
  tp_enter_forward(*tp_, sp_, a.ln1, rows.n_local);
  linear_forward(a.qkv, a.ln1, w.qkv_w, w.qkv_b, N, C, d.QKV);
  if (m.position == Position::kRope)
    ops_->rope_forward(a.qkv, rope_cos_.data(), rope_sin_.data(), B, Tn, d.NH, d.NKV, d.HS);
  const bool causal = m.objective == Objective::kCausal;
  if (shard_.attention == Attention::kFlash) {
    ops_->flash_attention_forward(a.atty, a.softmax, a.qkv, B, Tn, d.NH, d.NKV, d.HS, causal, ctx_);
  } else if (shard_.attention == Attention::kCudnn) {
    bf16_attention_forward(a, B, Tn, causal);
  } else {
    ops_->attention_forward(a.atty, a.softmax, a.qkv, B, Tn, d.NH, d.NKV, d.HS, causal);
  }
  linear_forward(row_parallel_out_, a.atty, w.proj_w, static_cast<const T*>(nullptr), N, d.attn_out, C);
  const T* proj = tp_leave_forward(*tp_, sp_, row_parallel_out_, row_parallel_out_local_, rows.n_local);
  // res2 = x + (proj(atty) + b) and its norm, in one pass; then the MLP: column-parallel first linear, row-parallel
  // projection
  residual_norm_forward(a.res2, a.ln2 + rows.first, a.ln2_mean, a.ln2_rstd, x, proj, w.proj_b, w.ln2_w, w.ln2_b,
                        rows.N_sp);
  tp_enter_forward(*tp_, sp_, a.ln2, rows.n_local);
  linear_forward(a.fch, a.ln2, w.fc_w, w.fc_b, N, C, d.fc_out);
  if (m.activation == Activation::kGelu) {
    ops_->gelu_forward(a.act, a.fch, static_cast<int64_t>(N) * d.F);
  } else {
    ops_->swiglu_forward(a.act, a.fch, N, d.F);
  }
  linear_forward(row_parallel_out_, a.act, w.fcproj_w, static_cast<const T*>(nullptr), N, d.F, C);
  const T* mlp = tp_leave_forward(*tp_, sp_, row_parallel_out_, row_parallel_out_local_, rows.n_local);
  ops_->residual_forward(a.res3, a.res2, mlp, w.fcproj_b, rows.N_sp, C);  // res3 = res2 + (proj(act) + b)
}

// One layer backward: d_residual_ holds d(res3) (N_sp, C) on entry and d(x) on return (the same on every
// tensor-parallel rank without sequence parallelism). Norm weight gradients cover this rank's rows (summed over tp once
// per step under sequence parallelism); bias gradients of the row-parallel projections are taken over all rows.
template <typename T>
void Transformer<T>::layer_backward(int l, const LayerActs& a, const T* x, int B, int Tn) {
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  const int N = B * Tn, C = d.C;
  const LocalRows rows = local_rows(B, Tn);
  const LayerParams w = layer_view(params_.data(), l);
  const LayerParams dw = layer_view(grads_.data(), l);
  // res3 = res2 + (act @ Wp^T + bp): d(output) of every row enters the row-parallel backward
  const T* dout = tp_leave_backward(*tp_, sp_, d_residual_, d_residual_full_, rows.n_local);
  linear_backward(dact_, dw.fcproj_w, dw.fcproj_b, dout, a.act, w.fcproj_w, N, d.F, C);
  if (m.activation == Activation::kGelu) {
    ops_->gelu_backward(dfch_, a.fch, dact_, static_cast<int64_t>(N) * d.F);
  } else {
    ops_->swiglu_backward(dfch_, a.fch, dact_, N, d.F);
  }
  linear_backward(d_norm_out_, dw.fc_w, dw.fc_b, dfch_, a.ln2, w.fc_w, N, C, d.fc_out);
  const T* dln2 = tp_enter_backward(*tp_, sp_, d_norm_out_, d_norm_out_local_, rows.n_local);
  norm_backward(d_residual_, dw.ln2_w, dw.ln2_b, dln2, a.res2, w.ln2_w, a.ln2_mean, a.ln2_rstd,
                rows.N_sp);  // now d(res2)
  // res2 = x + (atty @ Wo^T + bo)
  dout = tp_leave_backward(*tp_, sp_, d_residual_, d_residual_full_, rows.n_local);
  linear_backward(datty_, dw.proj_w, dw.proj_b, dout, a.atty, w.proj_w, N, d.attn_out, C);
  if (shard_.attention == Attention::kFlash) {
    ops_->flash_attention_backward(dqkv_, datty_, a.qkv, a.atty, a.softmax, B, Tn, d.NH, d.NKV, d.HS,
                                   m.objective == Objective::kCausal, ctx_);
  } else if (shard_.attention == Attention::kCudnn) {
    bf16_attention_backward(a, B, Tn, m.objective == Objective::kCausal);
  } else {
    ops_->attention_backward(dqkv_, datty_, a.qkv, a.softmax, B, Tn, d.NH, d.NKV, d.HS, ctx_);
  }
  if (m.position == Position::kRope)
    ops_->rope_backward(dqkv_, rope_cos_.data(), rope_sin_.data(), B, Tn, d.NH, d.NKV, d.HS);
  linear_backward(d_norm_out_, dw.qkv_w, dw.qkv_b, dqkv_, a.ln1, w.qkv_w, N, C, d.QKV);
  const T* dln1 = tp_enter_backward(*tp_, sp_, d_norm_out_, d_norm_out_local_, rows.n_local);
  norm_backward(d_residual_, dw.ln1_w, dw.ln1_b, dln1, x, w.ln1_w, a.ln1_mean, a.ln1_rstd, rows.N_sp);  // now d(x)
}

template <typename T>
void Transformer<T>::layer_recompute(int l, const LayerActs& a, const T* x, int B, int Tn) {
  const LocalDims& d = dims_;
  switch (shard_.layer_recompute()) {
    case Recompute::kNone:
      return;
    case Recompute::kSelective:  // the probabilities from the kept q, k, v (the output, kept too, into scratch)
      ops_->attention_forward(datty_, a.softmax, a.qkv, B, Tn, d.NH, d.NKV, d.HS,
                              config_.objective == Objective::kCausal);
      return;
    case Recompute::kFull: {  // the whole layer into the shared activations, its output into scratch
      LayerActs shared = a;
      shared.res3 = shared_layer_.res3;
      layer_forward(l, shared, x, B, Tn);
      return;
    }
  }
}

template <typename T>
T* Transformer<T>::chunk_input(int c, int s) {
  return slot(c, s).input;
}

template <typename T>
const T* Transformer<T>::chunk_output(int c, int s) const {
  const Slot& sl = slots_[static_cast<size_t>(c)][static_cast<size_t>(s)];
  return sl.layers.empty() ? sl.input : sl.layers.back().res3;
}

template <typename T>
void Transformer<T>::forward_chunk(int c, int s, const int32_t* tokens, const int32_t* targets, int B, int Tn) {
  refresh_bf16_params();
  const ModelConfig& m = config_;
  const LocalDims& d = dims_;
  const ChunkRange& chunk = chunks_[static_cast<size_t>(c)];
  Slot& sl = slot(c, s);
  TESSERA_CHECK(B > 0 && B <= max_batch_ && Tn > 0 && Tn <= max_seq_,
                "forward shape ({}, {}) outside the planned ({}, {})", B, Tn, max_batch_, max_seq_);
  const int N = B * Tn, C = d.C, V = m.vocab_size;
  for (int i = 0; i < N; ++i)
    TESSERA_CHECK(tokens[i] >= 0 && tokens[i] < V, "token {} at position {} outside the vocabulary of {}", tokens[i], i,
                  V);
  // staged on the host, then uploaded into the slot
  std::copy(tokens, tokens + N, host_ids_.begin());
  if (targets != nullptr) {
    std::copy(targets, targets + N, host_ids_.begin() + N);
  } else {
    std::fill(host_ids_.begin() + N, host_ids_.begin() + 2 * N, -1);
  }
  backend_->upload(sl.tokens, host_ids_.data(), int64_t{N} * static_cast<int64_t>(sizeof(int32_t)));
  backend_->upload(sl.targets, host_ids_.data() + N, int64_t{N} * static_cast<int64_t>(sizeof(int32_t)));
  sl.B = B;
  sl.Tn = Tn;
  TESSERA_CHECK(N % shard_.seq_split() == 0, "{} rows over {} sequence-parallel ranks", N, shard_.seq_split());
  const LocalRows rows = local_rows(B, Tn);
  T* P = params_.data();
  if (chunk.embedding) {
    // vocab-parallel embedding: each rank its vocabulary rows (the position on tp rank 0 only), then tp_reduce (or
    // tp_scatter: this rank's part of the sequence)
    ops_->embedding_forward(row_parallel_out_, sl.tokens, tensor(P, wte_),
                            shard_.tp_rank == 0 ? tensor(P, wpe_) : nullptr, B, Tn, C, d.v0, d.Vp);
    const T* embedded = tp_leave_forward(*tp_, sp_, row_parallel_out_, row_parallel_out_local_, rows.n_local);
    backend_->copy(sl.input, embedded, rows.n_local * static_cast<int64_t>(sizeof(T)));
  }
  const T* x = sl.input;  // (N_sp, C) residual stream entering the layer
  for (int i = 0; i < chunk.n_layers; ++i) {
    const LayerActs& a = sl.layers[static_cast<size_t>(i)];
    layer_forward(chunk.first_layer + i, a, x, B, Tn);
    x = a.res3;
  }
  if (!chunk.head) return;
  norm_forward(sl.lnf + rows.first, sl.lnf_mean, sl.lnf_rstd, x, tensor(P, lnf_w_), tensor(P, lnf_b_), rows.N_sp);
  tp_enter_forward(*tp_, sp_, sl.lnf, rows.n_local);
  // the head is column-parallel over the vocabulary: this rank's logits (N, Vp_tp)
  linear_forward(sl.logits, sl.lnf, tensor(P, head_), static_cast<const T*>(nullptr), N, C, d.Vp);
  last_logits_ = sl.logits;
}

template <typename T>
void Transformer<T>::chunk_loss(int c, int s, T dloss, bool train) {
  TESSERA_CHECK(chunks_[static_cast<size_t>(c)].head, "the loss of chunk {}, which is not the head", c);
  Slot& sl = slot(c, s);
  TESSERA_CHECK(sl.B > 0, "loss before forward");
  const int N = sl.B * sl.Tn;
  if (train && tp_->size() == 1) {  // one pass over each row of logits
    ops_->cross_entropy_forward_backward(sl.logits, sl.losses, sl.targets, dloss, N, config_.vocab_size, dims_.Vp,
                                         loss_sum_.data());
    return;
  }
  loss_forward(sl);
  if (train) loss_backward(sl, dloss);
}

template <typename T>
double Transformer<T>::take_loss_sum() {
  double sum = 0;
  loss_sum_.download(&sum);
  loss_sum_.zero();
  return sum;
}

// The loss of a slot's logits: on one rank the fused cross-entropy; under tensor parallelism the vocab-parallel one
// (local max -> all-reduce MAX -> local sum of exponentials and the owner's target logit -> all-reduce SUM).
// Leaves lse for the backward.
template <typename T>
void Transformer<T>::loss_forward(Slot& sl) {
  const LocalDims& d = dims_;
  const int N = sl.B * sl.Tn;
  if (tp_->size() == 1) {
    ops_->cross_entropy_forward(sl.losses, sl.lse, sl.logits, sl.targets, N, config_.vocab_size, d.Vp,
                                loss_sum_.data());
    return;
  }
  ops_->vocab_parallel_max(sl.lse, sl.logits, N, d.Vn, d.Vp);
  tp_->all_reduce(sl.lse, N, ReduceOp::kMax);  // lse holds the row maxima for now
  ops_->vocab_parallel_sum_exp(sl.ce_sums, sl.logits, sl.lse, sl.targets, N, d.v0, d.Vn, d.Vp);
  tp_->all_reduce_sum(sl.ce_sums, int64_t{2} * N);
  ops_->vocab_parallel_loss(sl.losses, sl.lse, sl.ce_sums, sl.targets, N, loss_sum_.data());
}

template <typename T>
void Transformer<T>::loss_backward(Slot& sl, T dloss) {
  const LocalDims& d = dims_;
  const int N = sl.B * sl.Tn;
  if (tp_->size() == 1) {
    ops_->cross_entropy_backward(sl.logits, sl.lse, sl.targets, dloss, N, config_.vocab_size, d.Vp);
  } else {
    ops_->vocab_parallel_backward(sl.logits, sl.lse, sl.targets, dloss, N, d.v0, d.Vn, d.Vp);
  }
}

template <typename T>
void Transformer<T>::report_ready(int first, int last) const {
  if (grads_ready_ && first >= 0 && last >= first) grads_ready_(first, last);
}

// The last table index of a layer's tensors (they are added together, ln1_w first).
template <typename T>
int Transformer<T>::layer_last_tensor(int l) const {
  const LayerIndex& ix = layer_index_[static_cast<size_t>(l)];
  return std::max({ix.ln1_w, ix.ln1_b, ix.qkv_w, ix.qkv_b, ix.proj_w, ix.proj_b, ix.ln2_w, ix.ln2_b, ix.fc_w, ix.fc_b,
                   ix.fcproj_w, ix.fcproj_b});
}

template <typename T>
const T* Transformer<T>::backward_chunk(int c, int s, bool last) {
  const ChunkRange& chunk = chunks_[static_cast<size_t>(c)];
  const LocalDims& d = dims_;
  Slot& sl = slot(c, s);
  TESSERA_CHECK(sl.B > 0, "backward of chunk {} slot {} before its forward", c, s);
  const int B = sl.B, Tn = sl.Tn, N = B * Tn, C = d.C;
  const LocalRows rows = local_rows(B, Tn);
  T* P = params_.data();
  T* G = grads_.data();
  const T* out = chunk_output(c, s);
  if (chunk.head) {
    // logits hold dlogits: through the head (tp_copy / tp_gather backward) and the final norm into d_residual_
    linear_backward(d_norm_out_, tensor(G, head_), static_cast<T*>(nullptr), sl.logits, sl.lnf, tensor(P, head_), N, C,
                    d.Vp);
    const T* dlnf = tp_enter_backward(*tp_, sp_, d_norm_out_, d_norm_out_local_, rows.n_local);
    backend_->zero(d_residual_, rows.n_local * static_cast<int64_t>(sizeof(T)));
    norm_backward(d_residual_, tensor(G, lnf_w_), tensor(G, lnf_b_), dlnf, out, tensor(P, lnf_w_), sl.lnf_mean,
                  sl.lnf_rstd, rows.N_sp);
    // the final norm and an untied head are done (a tied head is the embedding: reported where it is embedded)
    if (last)
      report_ready(lnf_w_, config_.tie_embeddings ? std::max(lnf_w_, lnf_b_) : std::max({lnf_w_, lnf_b_, head_}));
  }
  // d_residual_ carries d(loss)/d(residual stream) down through the layers
  for (int i = chunk.n_layers - 1; i >= 0; --i) {
    const T* x = i > 0 ? sl.layers[static_cast<size_t>(i - 1)].res3 : sl.input;
    layer_recompute(chunk.first_layer + i, sl.layers[static_cast<size_t>(i)], x, B, Tn);
    layer_backward(chunk.first_layer + i, sl.layers[static_cast<size_t>(i)], x, B, Tn);
    const int l = chunk.first_layer + i;
    if (last) report_ready(layer_index_[static_cast<size_t>(l)].ln1_w, layer_last_tensor(l));
  }
  sl.B = 0;  // the slot is spent: it needs a new forward
  if (!chunk.embedding) return d_residual_;
  // the embedding's backward reads every row (tp_reduce / tp_scatter backward)
  const T* dembedded = tp_leave_backward(*tp_, sp_, d_residual_, d_residual_full_, rows.n_local);
  ops_->embedding_backward(tensor(G, wte_), tensor(G, wpe_), dembedded, sl.tokens, B, Tn, C, d.v0, d.Vp);
  if (last) report_ready(wte_, std::max(wte_, wpe_));
  return nullptr;
}

template class Transformer<float>;
template class Transformer<double>;

}  // namespace tessera
