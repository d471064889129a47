// The decoder-only transformer (GPT-2 and LLaMA families), forward and backward, over flat buffers.
//
// Parameters and gradients are each one allocation described by a TensorTable, laid out layer by layer
// (embeddings, layers.0 .. layers.L-1, final norm, head) so that a pipeline stage or a gradient bucket is one
// contiguous range. Activations are planned for (max_batch, max_seq) in the constructor; forward and backward
// allocate nothing. T is float for training and double for the finite-difference tests.
#pragma once

#include <cstdint>
#include <vector>

#include "core/communicator.hpp"
#include "core/tensor_table.hpp"
#include "model/model_config.hpp"
#include "ops/context.hpp"

namespace tessera {

// Sizes of a model, known without building it (train --dry-run, memory planning).
struct ModelSizes {
  int64_t parameters = 0;           // elements of every tensor of the shard (padded vocabulary rows included)
  int64_t matmul_parameters = 0;    // the N of MFU: weights that take part in a matrix multiply (whole model)
  int64_t flat_elements = 0;        // of the parameter buffer (with alignment): also gradients, AdamW m and v
  int64_t activation_elements = 0;  // activations and backward scratch for (max_batch, max_seq)
  double flops_per_token = 0;       // 6 N + 12 L C T at T = max_seq
};

// The part of the model one rank holds: its tensor-parallel slice (Megatron's layout: QKV and the MLP's first
// linear split by output columns, the attention and MLP projections by input columns, the embedding and the head by
// vocabulary rows; norms, position embeddings and the projections' biases whole on every rank).
struct ModelShard {
  int tp_rank = 0;
  int tp = 1;
};

// This rank's widths (the global ones when tp = 1).
struct LocalDims {
  int C = 0;    // model width (whole: the residual stream is not split)
  int NH = 0;   // query heads on this rank: NH / tp
  int NKV = 0;  // key/value heads: NKV / tp
  int HS = 0;   // head size
  int CA = 0;   // attention output width NH_tp * HS (the input of the attention projection)
  int QKV = 0;  // (NH_tp + 2 NKV_tp) * HS
  int F = 0;    // feed-forward width F / tp
  int FI = 0;   // the first MLP linear's output: F_tp, or 2 F_tp for SwiGLU
  int Vp = 0;   // vocabulary rows on this rank: padded_vocab(tp) / tp
  int v0 = 0;   // the first of them
  int Vn = 0;   // how many of them are real tokens (the rest is padding)
};
LocalDims local_dims(const ModelConfig& config, const ModelShard& shard);

template <typename T>
class Transformer {
 public:
  // Activations are planned for (max_batch, max_seq) sequences; max_seq = 0: the model's context, max_seq_len.
  // tp: the tensor-parallel group (nullptr: a group of one); the model holds its slice of every tensor.
  Transformer(const ModelConfig& config, int max_batch, int max_seq = 0, const Communicator* tp = nullptr);
  static ModelSizes sizes(const ModelConfig& config, int max_batch, int max_seq = 0, const ModelShard& shard = {});
  // The tensors of one rank's shard (the whole model for the default shard), without building the model.
  static TensorTable plan_table(const ModelConfig& config, const ModelShard& shard = {});

  const ModelConfig& config() const { return config_; }
  const ModelShard& shard() const { return shard_; }
  const LocalDims& dims() const { return dims_; }
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
  // (B, T, Vp_tp) logits of the last forward, this rank's vocabulary rows [dims().v0, dims().v0 + dims().Vp)
  // (overwritten by backward).
  const T* logits() const { return logits_; }

  // Model FLOPs per token for MFU, of the whole model: 6 N + 12 L C T (N: weights that take part in a matrix
  // multiply).
  double flops_per_token(int Tn) const;
  // Bytes held by parameters, gradients and activations.
  int64_t activation_bytes() const { return static_cast<int64_t>(acts_.size() * sizeof(T)); }

 private:
  struct LayerParams {  // pointers into params_ or grads_; null where the architecture has no such tensor
    T *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
  };
  struct LayerActs {  // widths are this rank's (LocalDims)
    T* ln1;           // (B, T, C)
    T* ln1_mean;      // (B, T)
    T* ln1_rstd;      // (B, T)
    T* qkv;           // (B, T, QKV_tp), q and k rotated when RoPE
    T* probs;         // (B, NH_tp, T, T)
    T* atty;          // (B, T, CA_tp)
    T* res2;          // (B, T, C) residual after attention
    T* ln2;           // (B, T, C)
    T* ln2_mean;      // (B, T)
    T* ln2_rstd;      // (B, T)
    T* fch;           // (B, T, FI_tp)
    T* act;           // (B, T, F_tp)
    T* res3;          // (B, T, C) residual after the MLP: the layer's output
  };
  struct LayerIndex {  // tensor table indices, -1 where absent
    int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b;
  };

  void forward_to_logits(const int32_t* tokens, const int32_t* targets, int B, int Tn);
  void backward_from_dlogits();
  struct Plan;
  static TensorTable plan_params(const ModelConfig& m, const ModelShard& shard, Plan* plan);
  static int64_t activation_elements(const LocalDims& d, const ModelConfig& m, int64_t max_batch, int64_t max_seq);
  double loss_forward(int N);
  void loss_backward(T dloss, int N);
  void plan_activations();
  LayerParams layer_view(T* base, int l) const;
  T* tensor(T* base, int index) const { return index < 0 ? nullptr : base + table_[index].offset; }
  void norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N) const;
  void norm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean, const T* rstd,
                     int N) const;

  ModelConfig config_;
  SelfCommunicator self_;   // the tensor-parallel group when none is given
  const Communicator* tp_;  // the tensor-parallel group
  ModelShard shard_;
  LocalDims dims_;
  int max_batch_, max_seq_;
  TensorTable table_;
  int wte_ = -1, wpe_ = -1, lnf_w_ = -1, lnf_b_ = -1, head_ = -1;
  std::vector<LayerIndex> layer_index_;

  std::vector<T> params_, grads_;
  std::vector<T> acts_;  // every activation below, one allocation
  std::vector<LayerActs> layers_;
  T *encoded_ = nullptr, *lnf_ = nullptr, *lnf_mean_ = nullptr, *lnf_rstd_ = nullptr, *logits_ = nullptr;
  T *losses_ = nullptr, *lse_ = nullptr;
  T* ce_sums_ = nullptr;  // (B, T, 2) vocab-parallel cross-entropy: sum of exponentials, target logit
  T* rowpar_ = nullptr;   // (B, T, C) a row-parallel layer's output, reduced before the residual add
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
