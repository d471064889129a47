// The op interface: free functions over raw pointers and sizes.
//
// Every op has a forward and a hand-written backward (llm.c style) and is implemented for float (training) and
// double (finite-difference tests) in src/ops/cpu/, one file per op. The CUDA backend implements the same names in
// src/ops/cuda/. Model code calls these functions only; it never sees a kernel, a stream or a communicator.
//
// Shape vocabulary: N rows (= B*T tokens), B batch, T sequence, C channels, OC/IC output/input channels, V vocabulary,
// Vp padded vocabulary, NH query heads, NKV key/value heads, HS head size, F feed-forward width.
// Backward conventions: gradients of weights ACCUMULATE (+=, so micro-batches add up); gradients of activations
// are written (=) unless the parameter is named *_accum, which marks a residual stream that adds (+=).
#pragma once

#include <cstdint>
#include <string>

#include "ops/context.hpp"

namespace tessera::ops {

// ---- embedding: out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:] (wpe may be null: no learned positions)
// Vocab-parallel: wte holds the rows [v0, v0 + Vn) of the vocabulary (Vn, C); a token outside them contributes
// zero (the tensor-parallel sum over ranks then gives its row). One rank: v0 = 0, Vn = Vp.
template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int B, int Tn, int C, int v0, int Vn);
// dwte[tokens[b,t] - v0,:] += dout[b,t,:] for tokens in [v0, v0 + Vn); dwpe[t,:] += sum_b dout[b,t,:].
// Deterministic for any thread count.
template <typename T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const int32_t* tokens, int B, int Tn, int C, int v0, int Vn);

// ---- residual add after a (reduced) linear layer: out = x + (y + bias).  x, y, out: (N, C); bias: (C) or null.
// (Under tensor parallelism y is the all-reduced output of a row-parallel layer: the bias is added once.)
template <typename T>
void residual_forward(T* out, const T* x, const T* y, const T* bias, int N, int C);

// ---- LayerNorm over the last dim: out = (x - mean) * rstd * w + b.  inp, out: (N, C); mean, rstd: (N)
template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N, int C, float eps);
// dinp_accum += d/dinp; dw += ...; db += ...
template <typename T>
void layernorm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                        const T* rstd, int N, int C);

// ---- RMSNorm over the last dim: out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps).  rstd: (N)
template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* w, int N, int C, float eps);
template <typename T>
void rmsnorm_backward(T* dinp_accum, T* dw, const T* dout, const T* inp, const T* w, const T* rstd, int N, int C);

// ---- the residual add and the norm that reads it, in one pass over the rows: res = x + (y + bias) as
// residual_forward, then out, mean, rstd = the norm of res as layernorm_forward / rmsnorm_forward (the same bits as
// the two ops in turn). Their backwards are the norm's and the residual stream's, unchanged.
template <typename T>
void residual_layernorm_forward(T* res, T* out, T* mean, T* rstd, const T* x, const T* y, const T* bias, const T* w,
                                const T* b, int N, int C, float eps);
template <typename T>
void residual_rmsnorm_forward(T* res, T* out, T* rstd, const T* x, const T* y, const T* bias, const T* w, int N, int C,
                              float eps);

// ---- linear layer: out (N, OC) = inp (N, IC) @ w^T + bias, w: (OC, IC) as in torch.nn.Linear, bias: (OC) or null.
// accumulate: out += ... instead of out = ... (adds a residual branch onto a copy of the stream).
template <typename T>
void matmul_forward(T* out, const T* inp, const T* w, const T* bias, int N, int IC, int OC, bool accumulate);
// dinp (N, IC) = dout @ w (skipped if dinp is null); dw += dout^T @ inp; dbias += sum_rows dout (if non-null).
template <typename T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int N, int IC, int OC);

// ---- the same linear layer with bf16 operands (train.dtype = "bf16"): the weight is given in bf16 (a copy of the
// fp32 master made by round_to_bf16), the activation and gradient operands are rounded to bf16 on their way into the
// product, products are accumulated in fp32, and out, dinp, dw, bias and dbias stay fp32 (as tensor cores do: a
// product of two bf16 values is exact in fp32). The rows are taken in blocks (Bf16Blocks) through a scratch of
// blocks.scratch_size() floats in the backend's memory, so a (N, V) gradient of the logits is never rounded whole.
// out (n) = x rounded to the nearest bf16, ties to even (NaN stays NaN, overflow gives infinity), as its 16 bits.
void round_to_bf16(uint16_t* out, const float* x, int64_t n);
// How the bf16 products walk their operands. A GPU rounds `rows` rows of inp and dout at a time into bf16 scratch
// and reads the bf16 weight as it is. The CPU, which widens bf16 to fp32 for its sgemm, takes `weight_rows` rows of
// the weight (and the same columns of dout) at a time, and `cpu_rows` rows of inp and dout against each.
struct Bf16Blocks {
  int rows = 1;
  int weight_rows = 1;
  int cpu_rows = 1;
  int64_t IC = 0, OC = 0;
  // floats of scratch in the backend's memory that either backend needs
  int64_t scratch_size() const {
    const int64_t gpu = (rows * (IC + OC) + 1) / 2;  // bf16
    const int64_t cpu = cpu_rows * (IC + weight_rows) + weight_rows * IC;
    return gpu > cpu ? gpu : cpu;
  }
};
// Blocks for an (N, IC) x (OC, IC)^T product: at most block_elements bf16 elements of operands on a GPU (the default,
// 2^25: 64 MiB, and rows enough for the tensor cores even against a vocabulary), an eighth of that in floats on the
// CPU. Tests pass small ones to cross block edges.
constexpr int64_t kBf16BlockElements = int64_t{1} << 25;
Bf16Blocks bf16_blocks(int N, int IC, int OC, int64_t block_elements = kBf16BlockElements);
void matmul_forward_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int N, int IC, int OC,
                         bool accumulate, const Bf16Blocks& blocks, float* scratch);
// dinp (written; skipped if null), dw (+=) and dbias (+=, the fp32 dout's column sums) as matmul_backward.
void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const uint16_t* w,
                          int N, int IC, int OC, const Bf16Blocks& blocks, float* scratch);

// ---- GELU, tanh approximation (GPT-2). inp, out: (n)
template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n);
template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n);

// ---- SwiGLU: out[i,:] = silu(inp[i, :F]) * inp[i, F:].  inp: (N, 2F) = [gate | up], out: (N, F)
template <typename T>
void swiglu_forward(T* out, const T* inp, int N, int F);
template <typename T>
void swiglu_backward(T* dinp, const T* inp, const T* dout, int N, int F);

// ---- rotary position embedding (rotate-half convention, as Hugging Face LLaMA), in place on the q and k heads of
// qkv (B, T, (NH + 2 NKV) * HS). cos, sin: (Tmax, HS/2) tables from rope_tables.
void rope_tables(float* cos, float* sin, int Tmax, int HS, float theta);
template <typename T>
void rope_forward(T* qkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS);
// The rotation is orthogonal: backward rotates dq, dk by the inverse angle, in place on dqkv.
template <typename T>
void rope_backward(T* dqkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS);

// ---- multi-head attention with grouped-query heads (NH query heads share NKV key/value heads).
// qkv: (B, T, (NH + 2 NKV) * HS) = [q heads | k heads | v heads] per token; out: (B, T, NH * HS);
// probs: (B, NH, T, T) softmax(q k^T / sqrt(HS)), kept for backward. causal: key j <= query i only.
template <typename T>
void attention_forward(T* out, T* probs, const T* qkv, int B, int Tn, int NH, int NKV, int HS, bool causal);
// dqkv (written) from dout (B, T, NH * HS). Needs ctx.scratch of attention_scratch_size(T) per thread.
template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs, int B, int Tn, int NH, int NKV, int HS,
                        Context<T>& ctx);
int64_t attention_scratch_size(int Tn);

// ---- the same attention in tiles (FlashAttention-2): (B, NH, T, T) never exists. lse: (B, NH, T), the logsumexp of
// each query's scaled scores, kept for backward instead of the probabilities. Both need ctx.scratch of
// flash_attention_scratch_size(HS) per thread (on the CPU; the CUDA op keeps its tiles on chip).
template <typename T>
void flash_attention_forward(T* out, T* lse, const T* qkv, int B, int Tn, int NH, int NKV, int HS, bool causal,
                             Context<T>& ctx);
// dqkv (written) from dout; out is the forward's output (its row dot products with dout enter dS).
template <typename T>
void flash_attention_backward(T* dqkv, const T* dout, const T* qkv, const T* out, const T* lse, int B, int Tn, int NH,
                              int NKV, int HS, bool causal, Context<T>& ctx);
int64_t flash_attention_scratch_size(int HS);

// ---- the same attention with bf16 operands (train.attention = "cudnn"): q, k, v, the output and its gradient
// rounded to bf16, the scores, softmax statistics (lse, as above) and sums in fp32, dqkv rounded to bf16. On CUDA
// cuDNN's fused flash attention (its SDPA graphs, tensor cores); on the CPU the flash op between the same roundings
// (the reference). Float only. scratch: flash_attention_bf16_scratch_size floats of the backend's memory (the bf16
// copies of the operands on a GPU, the rounded ones on the CPU); on CUDA cuDNN's workspace is the runtime's.
void flash_attention_bf16_forward(float* out, float* lse, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                                  bool causal, float* scratch, Context<float>& ctx);
void flash_attention_bf16_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                                   int B, int Tn, int NH, int NKV, int HS, bool causal, float* scratch,
                                   Context<float>& ctx);
// Whether the bf16 attention runs at these shapes on this backend: "" or why not. On CUDA it loads cuDNN (the first
// time), builds the forward and backward graphs for the shapes (kept for the ops) and reserves the runtime's scratch
// for their workspace; *workspace_bytes: that workspace (0 on the CPU).
std::string flash_attention_bf16_check(int B, int Tn, int NH, int NKV, int HS, bool causal, int64_t* workspace_bytes);
inline int64_t flash_attention_bf16_scratch_size(int64_t BT, int NH, int NKV, int HS) {
  return BT * (static_cast<int64_t>(NH + 2 * NKV) * HS + static_cast<int64_t>(NH) * HS);  // qkv and one (B, T, C)
}

// ---- softmax cross-entropy over the first V of Vp logits (the padding never takes part).
// logits: (N, Vp); targets: (N), -1 = no loss at this position. Writes losses (N) (0 where ignored) and
// lse (N) = logsumexp of the row; adds the sum of losses (double, summed in row order) to *loss_sum, a double in the
// backend's memory: a GPU adds a step's micro-batches without waiting for each, and the step reads it once.
template <typename T>
void cross_entropy_forward(T* losses, T* lse, const T* logits, const int32_t* targets, int N, int V, int Vp,
                           double* loss_sum);
// In place: logits (N, Vp) become dlogits = (softmax - onehot(target)) * dloss, zero on ignored rows and padding.
template <typename T>
void cross_entropy_backward(T* logits, const T* lse, const int32_t* targets, T dloss, int N, int V, int Vp);
// Both at once, for training: writes losses (N), turns logits into dlogits in place and adds the loss sum to
// *loss_sum, with one read of each row from memory instead of two.
template <typename T>
void cross_entropy_forward_backward(T* logits, T* losses, const int32_t* targets, T dloss, int N, int V, int Vp,
                                    double* loss_sum);

// ---- vocab-parallel cross-entropy (Megatron): each tensor-parallel rank holds the logits of the vocabulary rows
// [v0, v0 + Vp_local); the first Vn of them are real (Vn = clamp(V - v0, 0, Vp_local)). The model combines:
//   rowmax  = all-reduce MAX of vocab_parallel_max;
//   sums    = all-reduce SUM of vocab_parallel_sum_exp: (sum_j exp(logit_j - rowmax), the target's logit or 0);
//   lse     = rowmax + log(sum); loss = lse - target logit.  The full logits never exist on one rank.
// rowmax (N) = max over the rank's real logits (-inf when it has none).
template <typename T>
void vocab_parallel_max(T* rowmax, const T* logits, int N, int Vn, int Vp_local);
// sums (N, 2): [sum of exponentials, the target's logit if this rank holds it, else 0].
template <typename T>
void vocab_parallel_sum_exp(T* sums, const T* logits, const T* rowmax, const int32_t* targets, int N, int v0, int Vn,
                            int Vp_local);
// After the all-reduce SUM of sums: lse (N), holding the row maxima, becomes rowmax + log(sum of exponentials);
// losses (N) = lse - target logit (0 on ignored rows). Adds the sum of losses (double, in row order) to *loss_sum
// (backend memory, as cross_entropy_forward's).
template <typename T>
void vocab_parallel_loss(T* losses, T* lse, const T* sums, const int32_t* targets, int N, double* loss_sum);
// In place: logits become (softmax - onehot(target)) * dloss on this rank's columns, zero on padding and ignored rows.
template <typename T>
void vocab_parallel_backward(T* logits, const T* lse, const int32_t* targets, T dloss, int N, int v0, int Vn,
                             int Vp_local);

// ---- reductions over flat buffers, deterministic for any thread count
// sum of squares, accumulated in double over fixed chunks
template <typename T>
double sum_squares(const T* x, int64_t n);
// The same added to *out, a double in the backend's memory: a GPU sums many tensors without waiting for each.
template <typename T>
void sum_squares_to(double* out, const T* x, int64_t n);
template <typename T>
void scale(T* x, T factor, int64_t n);
// true if any element is NaN or Inf
template <typename T>
bool has_nonfinite(const T* x, int64_t n);

// ---- AdamW with decoupled weight decay (Loshchilov & Hutter), bias-corrected; step t counts from 1.
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * p )
struct AdamWParams {
  float lr = 0, beta1 = 0.9F, beta2 = 0.95F, eps = 1e-8F, weight_decay = 0;
  int64_t t = 1;
};
template <typename T>
void adamw_update(T* param, const T* grad, T* m, T* v, int64_t n, const AdamWParams& p);

}  // namespace tessera::ops
