// The decoder-only transformer (GPT-2 and LLaMA families), forward and backward, over flat buffers.
//
// Parameters and gradients are each one allocation described by a TensorTable, laid out layer by layer
// (embeddings, layers.0 .. layers.L-1, final norm, head) so that a pipeline stage or a gradient bucket is one
// contiguous range. A rank holds the part of the model its ModelShard names: a tensor-parallel slice of every tensor
// (the model is given its tp group through the core's Communicator: no MPI here) and one or more pipeline model
// chunks. Activations are planned in the constructor for (max_batch, max_seq) and for every activation slot (a
// micro-batch in flight through a chunk); forward and backward allocate nothing. T is float for training and double
// for the finite-difference tests.
//
// Every buffer (parameters, gradients, activations, the micro-batches' token ids, RoPE tables) is the memory of the
// Backend the model is given (the CPU when none is), and every op goes through that backend's op table: on the CUDA
// backend params(), grads() and logits() point into GPU memory. forward_chunk reads its tokens and targets from
// host memory. double runs on the CPU backend only.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backend/backend.hpp"
#include "core/communicator.hpp"
#include "core/tensor_table.hpp"
#include "model/model_config.hpp"
#include "model/model_shard.hpp"
#include "ops/context.hpp"
#include "ops/op_table.hpp"

namespace tessera {

// Sizes of a model, known without building it (train --dry-run, memory planning).
struct ModelSizes {
  int64_t parameters = 0;           // elements of every tensor of the shard (padded vocabulary rows included)
  int64_t model_parameters = 0;     // the same for the whole model
  int64_t matmul_parameters = 0;    // the N of MFU: weights that take part in a matrix multiply (whole model)
  int64_t flat_elements = 0;        // of the parameter buffer (with alignment): also gradients, AdamW m and v
  int64_t activation_elements = 0;  // activations of every slot and backward scratch for (max_batch, max_seq)
  double flops_per_token = 0;       // 6 N + 12 L C T at T = max_seq
};

template <typename T>
class Transformer {
 public:
  // Activations are planned for (max_batch, max_seq) sequences; max_seq = 0: the model's context, max_seq_len.
  // tp: the tensor-parallel group (nullptr: a group of one; shard.tp_rank and shard.tp are taken from it).
  // backend: where the buffers live and the ops run (nullptr: the CPU); it must outlive the model.
  Transformer(const ModelConfig& config, int max_batch, int max_seq = 0, const Communicator* tp = nullptr,
              ModelShard shard = {}, Backend* backend = nullptr);
  Transformer(const Transformer&) = delete;
  Transformer& operator=(const Transformer&) = delete;
  ~Transformer() = default;

  static ModelSizes sizes(const ModelConfig& config, int max_batch, int max_seq = 0, const ModelShard& shard = {});
  // The tensors of one rank's shard (the whole model for the default shard), without building the model.
  static TensorTable plan_table(const ModelConfig& config, const ModelShard& shard = {});

  const ModelConfig& config() const { return config_; }
  const ModelShard& shard() const { return shard_; }
  const LocalDims& dims() const { return dims_; }
  const std::vector<ChunkRange>& chunks() const { return chunks_; }
  const TensorTable& table() const { return table_; }
  Backend& backend() const { return *backend_; }
  const ops::OpTable<T>& ops() const { return *ops_; }
  // The parameters, to write: under train.dtype = "bf16" this call marks their bf16 copy stale, and the next forward
  // makes it again (write them through a pointer taken after the last forward, as the optimizer and the checkpoint
  // reader do).
  T* params() {
    bf16_stale_ = true;
    return params_.data();
  }
  const T* params() const { return params_.data(); }
  T* grads() { return grads_.data(); }
  int64_t flat_size() const { return table_.total(); }
  int max_batch() const { return max_batch_; }
  int max_seq() const { return max_seq_; }
  // Elements of the activations passed between pipeline stages for (B, T) sequences: this rank's rows of the
  // residual stream (all B T rows, or B T / tp under sequence parallelism), times C.
  int64_t boundary_elements(int B, int Tn) const { return local_rows(B, Tn).n_local; }
  // Under sequence parallelism each tp rank's norm weight gradients cover its rows only: sums them over tp (once
  // per step, after the last backward). No-op otherwise.
  // first, last: only the tensors with table indices in [first, last] (as the grads-ready hook reports them).
  void reduce_sequence_parallel_grads(int first = 0, int last = -1);
  // The table index of the token embedding (-1 when this rank holds neither the first nor, tied, the last chunk).
  int embedding_index() const { return wte_; }

  // Fills every weight from (seed, tensor name): the same seed gives the same model under any layout.
  void init_weights(uint64_t seed);
  void zero_grads();

  // ---- the whole model on one rank (no pipeline: one chunk holding every layer), slot 0
  // tokens, targets: (B, T) with T <= max_seq_len; targets[i] = -1: no loss at position i.
  // Returns the sum of the per-position losses (the caller divides by the number of targeted positions).
  double forward(const int32_t* tokens, const int32_t* targets, int B, int Tn);
  // After forward: grads += d(dloss * sum of losses)/dparams. dloss = 1 / (targeted positions in the whole batch)
  // makes the gradient that of the mean loss.
  void backward(T dloss);
  // forward then backward in one call (training): the cross-entropy reads each row of logits once.
  double forward_backward(const int32_t* tokens, const int32_t* targets, int B, int Tn, T dloss);
  // (B, T, Vp_tp) logits of the last forward of the head chunk, this rank's vocabulary rows
  // [dims().v0, dims().v0 + dims().Vp) (overwritten by backward).
  const T* logits() const { return last_logits_; }

  // ---- one pipeline chunk (c: index into chunks()) for the micro-batch in activation slot s
  // Where a chunk that does not embed receives its input activations: (B, T, C) (this rank's rows: see
  // boundary_elements).
  T* chunk_input(int c, int s);
  // Forward through the chunk. tokens and targets (B, T) are this micro-batch's (the first chunk embeds the tokens,
  // the last one keeps the targets). A chunk that does not embed reads chunk_input(c, s).
  void forward_chunk(int c, int s, const int32_t* tokens, const int32_t* targets, int B, int Tn);
  // The chunk's output activations after forward_chunk (B, T, C), for the next stage.
  const T* chunk_output(int c, int s) const;
  // Head chunk after forward_chunk: adds the micro-batch's loss sum to the model's in the backend's memory (nothing
  // waits for the device); train = true also turns the logits into dlogits (scaled by dloss) for backward_chunk.
  void chunk_loss(int c, int s, T dloss, bool train);
  // The loss sums chunk_loss added since the last call (in their order), read from the backend (the one wait for
  // the device a step needs for its loss) and reset to 0.
  double take_loss_sum();
  // Where a chunk that is not the head receives d(output) (B, T, C) before backward_chunk.
  T* chunk_output_grad() { return d_residual_; }
  // Backward through the chunk: grads += ...; the head chunk starts from its dlogits, the others from
  // chunk_output_grad(). Returns d(input) (B, T, C) for the previous stage (valid until the next backward_chunk), or
  // nullptr for the embedding chunk. last: the step's last micro-batch through this chunk: the grads-ready hook
  // hears of each group of tensors as its gradients become final.
  const T* backward_chunk(int c, int s, bool last = false);
  // Called with table indices [first, last] of tensors whose gradients are final (data-parallel reduction overlaps
  // the rest of backward). The tied embedding is reported by the chunk that embeds, after its last use.
  using GradsReadyHook = std::function<void(int first, int last)>;
  void set_grads_ready_hook(GradsReadyHook hook) { grads_ready_ = std::move(hook); }

  // Model FLOPs per token for MFU, of the whole model: 6 N + 12 L C T (N: weights that take part in a matrix
  // multiply).
  double flops_per_token(int Tn) const;
  // Bytes of activations and backward scratch.
  int64_t activation_bytes() const { return acts_.bytes(); }

 private:
  struct LayerParams {  // pointers into params_ or grads_; null where the architecture has no such tensor
    T *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b, *ln2_w, *ln2_b, *fc_w, *fc_b, *fcproj_w, *fcproj_b;
  };
  struct LayerActs {  // widths are this rank's (LocalDims)
    T* ln1;           // (B, T, C)
    T* ln1_mean;      // (B, T)
    T* ln1_rstd;      // (B, T)
    T* qkv;           // (B, T, QKV_tp), q and k rotated when RoPE
    T* softmax;       // (B, NH_tp, T, T) probabilities, or (B, NH_tp, T) logsumexp under flash or cuDNN attention
    T* atty;          // (B, T, attn_out)
    T* res2;          // (B, T, C) residual after attention
    T* ln2;           // (B, T, C)
    T* ln2_mean;      // (B, T)
    T* ln2_rstd;      // (B, T)
    T* fch;           // (B, T, fc_out)
    T* act;           // (B, T, F_tp)
    T* res3;          // (B, T, C) residual after the MLP: the layer's output
  };
  struct LayerIndex {  // tensor table indices, -1 where absent
    int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fcproj_w, fcproj_b;
  };
  // One micro-batch in flight through one chunk.
  struct Slot {
    T* input = nullptr;  // (N_sp, C) the embedding's output, or the activations received from the previous stage
    std::vector<LayerActs> layers;
    // the head chunk only
    T *lnf = nullptr, *lnf_mean = nullptr, *lnf_rstd = nullptr;  // (B, T, C) all rows, (N_sp), (N_sp)
    T* logits = nullptr;                                         // (B, T, Vp_tp), dlogits after chunk_loss(train)
    T *losses = nullptr, *lse = nullptr;                         // (B, T)
    T* ce_sums = nullptr;  // (B, T, 2) vocab-parallel cross-entropy: sum of exponentials, target logit
    int32_t *tokens = nullptr, *targets = nullptr;  // (B, T) inputs of this micro-batch
    int B = 0, Tn = 0;                              // its shape (B = 0: empty)
  };
  struct Plan;
  // A micro-batch's rows of the residual stream on this rank: N_sp of its N = B T rows (ModelShard::residual_rows:
  // N / tp under sequence parallelism), rows [tp_rank N_sp, (tp_rank + 1) N_sp) of a full (N, C) buffer.
  struct LocalRows {
    int N_sp = 0;
    int64_t n_local = 0;  // their elements, N_sp C (tp_mappings.hpp's n_local)
    int64_t first = 0;    // elements before them in a full (N, C) buffer (0 without sequence parallelism)
  };
  LocalRows local_rows(int B, int Tn) const {
    LocalRows r;
    r.N_sp = static_cast<int>(shard_.residual_rows(B, Tn));
    r.n_local = static_cast<int64_t>(r.N_sp) * dims_.C;
    r.first = sp_ ? shard_.tp_rank * r.n_local : 0;
    return r;
  }

  static TensorTable plan_params(const ModelConfig& m, const ModelShard& shard, Plan* plan);
  // Activation elements of one slot of a chunk, and of the scratch every chunk shares.
  static double slot_elements(const LocalDims& d, const ChunkRange& chunk, double B, double Tn,
                              const ModelShard& shard);
  static double scratch_elements(const LocalDims& d, double B, double Tn, const ModelShard& shard);
  // Elements of one layer's activations, its output included.
  static double layer_elements(const LocalDims& d, double B, double Tn, const ModelShard& shard);
  // What attention keeps of its softmax: the probabilities (B, NH, T, T), or under flash (or cuDNN) attention the rows'
  // logsumexp (B, NH, T).
  static double softmax_elements(const LocalDims& d, double B, double Tn, Attention attention) {
    return B * d.NH * Tn * (keeps_logsumexp(attention) ? 1 : Tn);
  }
  static int64_t activation_elements(const ModelConfig& m, const ModelShard& shard, int64_t max_batch, int64_t max_seq);
  void plan_activations();
  LayerParams layer_view(T* base, int l) const;
  T* tensor(T* base, int index) const { return index < 0 ? nullptr : base + table_[index].offset; }
  Slot& slot(int c, int s);
  void norm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N) const;
  // res = x + (y + bias), then the norm of res into out (one pass: the fused op)
  void residual_norm_forward(T* res, T* out, T* mean, T* rstd, const T* x, const T* y, const T* bias, const T* w,
                             const T* b, int N) const;
  void norm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean, const T* rstd,
                     int N) const;
  // A linear layer's product in the model's precision (DType); w points into params_.
  void linear_forward(T* out, const T* inp, const T* w, const T* bias, int N, int IC, int OC);
  void linear_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int N, int IC, int OC);
  void bf16_attention_forward(const LayerActs& a, int B, int Tn, bool causal);
  void bf16_attention_backward(const LayerActs& a, int B, int Tn, bool causal);
  // The bf16 copy of a weight in params_.
  const uint16_t* bf16_weight(const T* w) const { return params_bf16_.data() + (w - params_.data()); }
  // Under bf16: the bf16 copy of the parameters made again if params() was called since it was last made.
  void refresh_bf16_params();
  // Floats of the scratch of the bf16 operands for N rows: of the products of this shard's layers (and head) under
  // bf16, of cuDNN attention (whole); 0 with neither.
  static double bf16_scratch_elements(const LocalDims& d, double N, bool head, const ModelShard& shard);
  void layer_forward(int l, const LayerActs& a, const T* x, int B, int Tn);
  void layer_backward(int l, const LayerActs& a, const T* x, int B, int Tn);
  // Before layer_backward under recomputation: what the layer did not keep, computed again from its input x.
  void layer_recompute(int l, const LayerActs& a, const T* x, int B, int Tn);
  void loss_forward(Slot& s);
  void loss_backward(Slot& s, T dloss);
  void check_single_stage(const char* what) const;
  void report_ready(int first, int last) const;
  int layer_last_tensor(int l) const;

  ModelConfig config_;
  Backend* backend_;  // the CPU backend (cpu_backend()) when none is given
  const ops::OpTable<T>* ops_;
  SelfCommunicator self_;   // the tensor-parallel group when none is given
  const Communicator* tp_;  // the tensor-parallel group
  ModelShard shard_;
  LocalDims dims_;
  std::vector<ChunkRange> chunks_;
  int max_batch_, max_seq_;
  TensorTable table_;
  int wte_ = -1, wpe_ = -1, lnf_w_ = -1, lnf_b_ = -1, head_ = -1;
  std::vector<LayerIndex> layer_index_;  // by layer of the whole model (all -1 for layers another rank holds)

  DeviceBuffer<T> params_, grads_;
  DeviceBuffer<uint16_t> params_bf16_;  // train.dtype = "bf16": the parameters rounded to bf16 (else empty)
  bool bf16_stale_ = true;              // params_ may have changed since params_bf16_ was made
  DeviceBuffer<T> acts_;                // every activation below, one allocation
  DeviceBuffer<int32_t> slot_ids_;
  DeviceBuffer<double> loss_sum_;         // (1) what chunk_loss adds, until take_loss_sum
  std::vector<int32_t> host_ids_;         // staging for a micro-batch's tokens and targets on their way to slot_ids_
  std::vector<std::vector<Slot>> slots_;  // [chunk][slot]
  bool sp_ = false;                       // sequence parallelism
  T* row_parallel_out_ = nullptr;  // (N, C) a row-parallel layer's partial output, reduced before the residual add
  T* row_parallel_out_local_ =
      nullptr;  // (N_sp, C) its reduce-scattered rows (sequence parallelism; else = row_parallel_out_)
  // backward scratch, shared by all layers and chunks (N_sp = N / tp rows under sequence parallelism, else N)
  T* d_residual_ = nullptr;        // (N_sp, C) d(residual stream)
  T* d_residual_full_ = nullptr;   // (N, C) its all-gathered rows (sequence parallelism; else = d_residual_)
  T* d_norm_out_ = nullptr;        // (N, C) d(norm output), partial over this rank's columns
  T* d_norm_out_local_ = nullptr;  // (N_sp, C) its reduce-scattered rows (sequence parallelism; else = d_norm_out_)
  T *dqkv_ = nullptr, *datty_ = nullptr, *dfch_ = nullptr, *dact_ = nullptr;
  T* bf16_scratch_ = nullptr;  // the bf16 operands (bf16_scratch_elements), at the plan's start (aligned)
  // recomputation: the activations every layer shares (selective: the probabilities; full: all but the output)
  LayerActs shared_layer_{};
  const T* last_logits_ = nullptr;
  GradsReadyHook grads_ready_;
  DeviceBuffer<float> rope_cos_, rope_sin_;  // (Tmax, HS/2)
  ops::Context<T> ctx_;
};

extern template class Transformer<float>;
extern template class Transformer<double>;

}  // namespace tessera
