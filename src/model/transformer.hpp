// The decoder-only transformer (GPT-2 and LLaMA families), forward and backward, over flat buffers.
//
// Parameters and gradients are each one allocation described by a TensorTable, laid out layer by layer
// (embeddings, layers.0 .. layers.L-1, final norm, head) so that a pipeline stage or a gradient bucket is one
// contiguous range. Activations are planned for (max_batch, max_seq) in the constructor; forward and backward
// allocate nothing. T is float for training and double for the finite-difference tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor_table.hpp"
#include "model/model_config.hpp"
#include "ops/context.hpp"

namespace tessera {

// Sizes of a model, known without building it (train --dry-run, memory planning).
struct ModelSizes {
  int64_t parameters = 0;           // elements of every tensor (padded vocabulary rows included)
  int64_t matmul_parameters = 0;    // the N of MFU: weights that take part in a matrix multiply
  int64_t flat_elements = 0;        // of the parameter buffer (with alignment): also gradients, AdamW m and v
  int64_t activation_elements = 0;  // activations and backward scratch for (max_batch, max_seq)
  double flops_per_token = 0;       // 6 N + 12 L C T at T = max_seq
};

template <typename T>
class Transformer {
 public:
  // Activations are planned for (max_batch, max_seq) sequences; max_seq = 0: the model's context, max_seq_len.
  Transformer(const ModelConfig& config, int max_batch, int max_seq = 0);
  static ModelSizes sizes(const ModelConfig& config, int max_batch, int max_seq = 0);

  const ModelConfig& config() const { return config_; }
  const TensorTable& table() const { return table_; }
  T* params() { return params_.data(); }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }
  int64_t flat_size() const { return table_.total(); }
  int max_batch() const { return max_batch_; }
  int max_seq() const { return max_seq_; }

  // Fills every weight from (seed, tensor name): the same seed gives the same model under any layout.
  void init_weights(uint64_t seed);
  void zero_grads();

  // tokens, targets: (B, T) with T <= max_seq_len; targets[i] = -1: no loss at position i.
  // Returns the sum of the per-position losses (the caller divides by the number of targeted positions).
  double forward(const int32_t* tokens, const int32_t* targets, int B, int Tn);
  // After forward: grads += d(dloss * sum of losses)/dparams. dloss = 1 / (targeted positions in the whole batch)
  // makes the gradient that of the mean loss.
  void backward(T dloss);
  // forward then backward in one call (training): the cross-entropy reads each row of logits once.
  double forward_backward(const int32_t* tokens, const int32_t* targets, int B, int Tn, T dloss);
  // (B, T, Vp) logits of the last forward (overwritten by backward).
  const T* logits() const { return logits_; }

  // Model FLOPs per token for MFU: 6 N + 12 L C T (N: weights that take part in a matrix multiply).
  double flops_per_token(int Tn) const;
  // Bytes held by parameters, gradients and activations.
  int64_t activation_bytes() const { return static_cast<int64_t>(acts_.size() * sizeof(T)); }

 private:
  struct LayerParams {  // pointers into params_ or grads_; null where the architecture has no such tensor
    T *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
  };
  struct LayerActs {
    T* ln1;       // (B, T, C)
    T* ln1_mean;  // (B, T)
    T* ln1_rstd;  // (B, T)
    T* qkv;       // (B, T, QKV), q and k rotated when RoPE
    T* probs;     // (B, NH, T, T)
    T* atty;      // (B, T, C)
    T* res2;      // (B, T, C) residual after attention
    T* ln2;       // (B, T, C)
    T* ln2_mean;  // (B, T)
    T* ln2_rstd;  // (B, T)
    T* fch;       // (B, T, F) or (B, T, 2F) for SwiGLU
    T* act;       // (B, T, F)
    T* res3;      // (B, T, C) residual after the MLP: the layer's output
  };
  struct LayerIndex {  // tensor table indices, -1 where absent
    int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b;
  };

  void forward_to_logits(const int32_t* tokens, const int32_t* targets, int B, int Tn);
  void backward_from_dlogits();
  struct Plan;
  static TensorTable plan_params(const ModelConfig& m, Plan* plan);
  static int64_t activation_elements(const ModelConfig& m, int64_t max_batch, int64_t max_seq);
  void plan_activations();
  LayerParams layer_view(T* base, int l) const;
  T* tensor(T* base, int index) const { return index < 0 ? nullptr : base + table_[index].offset; }
  void norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N) const;
  void norm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean, const T* rstd,
                     int N) const;

  ModelConfig config_;
  int max_batch_, max_seq_;
  TensorTable table_;
  int wte_ = -1, wpe_ = -1, lnf_w_ = -1, lnf_b_ = -1, head_ = -1;
  std::vector<LayerIndex> layer_index_;

  std::vector<T> params_, grads_;
  std::vector<T> acts_;  // every activation below, one allocation
  std::vector<LayerActs> layers_;
  T *encoded_ = nullptr, *lnf_ = nullptr, *lnf_mean_ = nullptr, *lnf_rstd_ = nullptr, *logits_ = nullptr;
  T *losses_ = nullptr, *lse_ = nullptr;
  // backward scratch, shared by all layers
  T *dres_ = nullptr, *dln_ = nullptr, *dqkv_ = nullptr, *datty_ = nullptr, *dfch_ = nullptr, *dact_ = nullptr;
  std::vector<float> rope_cos_, rope_sin_;  // (Tmax, HS/2)
  std::vector<int32_t> tokens_, targets_;   // inputs of the last forward
  int B_ = 0, T_ = 0;                       // shape of the last forward
  ops::Context<T> ctx_;
};

extern template class Transformer<float>;
extern template class Transformer<double>;

}  // namespace tessera
