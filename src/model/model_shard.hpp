// The part of the model one rank holds, as pure functions of the config and the rank's coordinates (no MPI):
//  - its tensor-parallel slice (Megatron's layout: QKV and the MLP's first linear split by output rows, the attention
//    and MLP projections by input columns, the embedding and the head by vocabulary rows; norms, position embeddings
//    and the projections' biases whole on every rank);
//  - its pipeline model chunks: the layers are cut into pp * v contiguous chunks (v: virtual stages, interleaved
//    1F1B), and pipeline rank p holds chunks p, p + pp, p + 2 pp, ...; chunk 0 holds the embedding, the last chunk
//    the final norm, the head and the loss.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "model/model_config.hpp"

namespace tessera {

// Activation recomputation (Megatron's): which activations a layer keeps for backward. kSelective drops the attention
// probabilities (B, NH, T, T) and recomputes them from the kept q, k, v; kFull keeps only each layer's output (the
// next layer's input) and recomputes the whole layer, tensor-parallel collectives included, before its backward.
// The recomputed values are bit for bit the forward's: every setting trains the same model.
enum class Recompute { kNone, kSelective, kFull };

// How attention keeps its softmax for backward: kMaterialized keeps the probabilities (B, NH, T, T); kFlash
// (FlashAttention-2's tiles) keeps each query's logsumexp (B, NH, T) and recomputes the probabilities tile by tile;
// kCudnn is kFlash with bf16 operands: cuDNN's fused flash attention on GPUs, its rounding around the flash op on
// the CPU (ops.hpp, flash_attention_bf16_forward).
enum class Attention { kMaterialized, kFlash, kCudnn };
// Whether attention keeps the rows' logsumexp (not the probabilities).
inline bool keeps_logsumexp(Attention a) {
  return a != Attention::kMaterialized;
}

// The precision of the matrix products (train.dtype). kFp32: fp32 throughout. kBf16: the model also holds its
// parameters in bf16 (a copy of the fp32 masters, made again whenever they may have changed), and every matrix
// product of a layer and of the head takes bf16 operands (the activations and gradients rounded on their way in)
// with fp32 accumulation; norms, attention, the residual stream, the loss, the gradients and AdamW stay fp32.
enum class DType { kFp32, kBf16 };

// From the names of train.recompute ("none" | "selective" | "full"), train.attention ("flash" | "materialized" |
// "cudnn") and train.dtype ("fp32" | "bf16"). Throws tessera::Error on another name.
Recompute recompute_from_name(std::string_view name);
Attention attention_from_name(std::string_view name);
DType dtype_from_name(std::string_view name);

struct ModelShard {
  int tp_rank = 0;
  int tp = 1;
  int pp_rank = 0;
  int pp = 1;
  int virtual_stages = 1;          // v: model chunks per pipeline rank
  std::vector<int> pp_layers;      // layers of each of the pp * v chunks, in model order (empty: an even split)
  std::vector<int> slots;          // activation slots (micro-batches in flight) of each of this rank's chunks ({}: 1)
  bool sequence_parallel = false;  // the residual stream and norms split along the sequence across tp
  Recompute recompute = Recompute::kNone;   // the activations each layer keeps (train.recompute)
  Attention attention = Attention::kFlash;  // train.attention
  DType dtype = DType::kFp32;               // train.dtype

  // The recomputation the model does: selective recomputation has nothing to drop under flash attention (it keeps
  // no probabilities), so there it is none (as in Megatron).
  Recompute layer_recompute() const {
    return recompute == Recompute::kSelective && keeps_logsumexp(attention) ? Recompute::kNone : recompute;
  }

  int chunks() const { return pp * virtual_stages; }
  // The residual stream's rows are split into this many parts (tp under sequence parallelism, else 1).
  int seq_split() const { return sequence_parallel ? tp : 1; }
  // This rank's rows of the residual stream of (B, T) sequences (what pipeline stages pass on, times C).
  int64_t residual_rows(int64_t B, int64_t Tn) const { return B * Tn / seq_split(); }
};

// A shard of an even split without interleaving, one slot per chunk: what loading a model for eval needs.
inline ModelShard even_shard(int tp_rank, int tp, int pp_rank = 0, int pp = 1) {
  ModelShard s;
  s.tp_rank = tp_rank;
  s.tp = tp;
  s.pp_rank = pp_rank;
  s.pp = pp;
  return s;
}

// Refuses a tensor-parallel size the model cannot be split by (heads, key/value heads and d_ff divisible by tp),
// naming the keys. Throws tessera::Error.
void check_tp_divides_model(const ModelConfig& config, int tp);

// Layers of each of the pp * v model chunks: pp_layers when given, else an even split. Throws tessera::Error naming
// parallel.pp, parallel.virtual_stages and parallel.pp_layers when they do not fit n_layer.
std::vector<int> chunk_layers(int n_layer, int pp, int virtual_stages, const std::vector<int>& pp_layers);

// One model chunk a rank holds.
struct ChunkRange {
  int index = 0;        // among the model's pp * v chunks
  int first_layer = 0;  // [first_layer, first_layer + n_layers)
  int n_layers = 0;
  bool embedding = false;  // chunk 0: embeds the tokens
  bool head = false;       // the last chunk: final norm, head and loss
};
// This rank's chunks, in model order.
std::vector<ChunkRange> rank_chunks(const ModelConfig& config, const ModelShard& shard);

// This rank's widths (the global ones when tp = 1).
struct LocalDims {
  int C = 0;         // model width (whole: the residual stream is not split)
  int NH = 0;        // query heads on this rank: NH / tp
  int NKV = 0;       // key/value heads: NKV / tp
  int HS = 0;        // head size
  int attn_out = 0;  // attention output width NH_tp * HS (the input of the attention projection)
  int QKV = 0;       // (NH_tp + 2 NKV_tp) * HS
  int F = 0;         // feed-forward width F / tp
  int fc_out = 0;    // the first MLP linear's output: F_tp, or 2 F_tp for SwiGLU
  int Vp = 0;        // vocabulary rows on this rank: padded_vocab(tp) / tp
  int v0 = 0;        // the first of them
  int Vn = 0;        // how many of them are real tokens (the rest is padding)
};
LocalDims local_dims(const ModelConfig& config, const ModelShard& shard);

}  // namespace tessera
