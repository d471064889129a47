// The CUDA backend's ops: ops.hpp's functions for float buffers in GPU memory, run on the stream of the CUDA
// runtime that the CUDA backend starts (runtime.hpp). Reached through ops::cuda::table() (op_table.hpp); plain C++
// here, no CUDA type, so the parity tests compile with any compiler.
#pragma once

#include <cstdint>
#include <string>

#include "ops/op_table.hpp"

namespace tessera::ops::cuda {

// The CUDA backend's op table (float). Its ops need the runtime started (make_cuda_backend does it).
const OpTable<float>& table();

// GPU memory the ops take beyond their arguments (what a plan adds before it is checked against the GPU):
// cuBLASLt's workspace, held by the runtime for the whole run (cuBLASLt's recommendation for Hopper) ...
constexpr int64_t kLtWorkspaceBytes = int64_t{32} << 20;
// ... and the attention backward's share of the runtime's scratch for B sequences of T tokens and NH heads: dS
// (B, NH, T, T) for the materialised op, D = rowsum(dO * O) (B, NH, T) under flash attention.
inline int64_t attention_scratch_bytes(int64_t B, int64_t NH, int64_t Tn, bool flash) {
  return B * NH * Tn * (flash ? 1 : Tn) * static_cast<int64_t>(sizeof(float));
}

// ops.hpp's functions, float (see there for shapes and conventions). attention_forward's probs and
// attention_backward's scratch are as on the CPU for now (probabilities kept; dS in the runtime's scratch).
void embedding_forward(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B, int Tn, int C,
                       int v0, int Vn);
void embedding_backward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B, int Tn, int C,
                        int v0, int Vn);
void residual_forward(float* out, const float* x, const float* y, const float* bias, int N, int C);
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps);
void layernorm_backward(float* dinp_accum, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C);
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C, float eps);
void rmsnorm_backward(float* dinp_accum, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int N, int C);
void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* x, const float* y,
                                const float* bias, const float* w, const float* b, int N, int C, float eps);
void residual_rmsnorm_forward(float* res, float* out, float* rstd, const float* x, const float* y, const float* bias,
                              const float* w, int N, int C, float eps);
void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int IC, int OC,
                    bool accumulate);
void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int N,
                     int IC, int OC);
void round_to_bf16(uint16_t* out, const float* x, int64_t n);
void matmul_forward_bf16(float* out, const float* inp, const uint16_t* w, const float* bias, int N, int IC, int OC,
                         bool accumulate, const Bf16Blocks& blocks, float* scratch);
void matmul_backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const uint16_t* w,
                          int N, int IC, int OC, const Bf16Blocks& blocks, float* scratch);
void gelu_forward(float* out, const float* inp, int64_t n);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n);
void swiglu_forward(float* out, const float* inp, int N, int F);
void swiglu_backward(float* dinp, const float* inp, const float* dout, int N, int F);
void rope_forward(float* qkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS);
void rope_backward(float* dqkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS);
void attention_forward(float* out, float* probs, const float* qkv, int B, int Tn, int NH, int NKV, int HS, bool causal);
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs, int B, int Tn, int NH,
                        int NKV, int HS, Context<float>& ctx);
void flash_attention_forward(float* out, float* lse, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                             bool causal, Context<float>& ctx);
void flash_attention_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                              int B, int Tn, int NH, int NKV, int HS, bool causal, Context<float>& ctx);
void flash_attention_bf16_forward(float* out, float* lse, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                                  bool causal, float* scratch, Context<float>& ctx);
void flash_attention_bf16_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                                   int B, int Tn, int NH, int NKV, int HS, bool causal, float* scratch,
                                   Context<float>& ctx);
std::string flash_attention_bf16_check(int B, int Tn, int NH, int NKV, int HS, bool causal, int64_t* workspace_bytes);
void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int N, int V, int Vp,
                           double* loss_sum);
void cross_entropy_backward(float* logits, const float* lse, const int32_t* targets, float dloss, int N, int V, int Vp);
void cross_entropy_forward_backward(float* logits, float* losses, const int32_t* targets, float dloss, int N, int V,
                                    int Vp, double* loss_sum);
void vocab_parallel_max(float* rowmax, const float* logits, int N, int Vn, int Vp_local);
void vocab_parallel_sum_exp(float* sums, const float* logits, const float* rowmax, const int32_t* targets, int N,
                            int v0, int Vn, int Vp_local);
void vocab_parallel_loss(float* losses, float* lse, const float* sums, const int32_t* targets, int N, double* loss_sum);
void vocab_parallel_backward(float* logits, const float* lse, const int32_t* targets, float dloss, int N, int v0,
                             int Vn, int Vp_local);
double sum_squares(const float* x, int64_t n);
void sum_squares_to(double* out, const float* x, int64_t n);
void scale(float* x, float factor, int64_t n);
bool has_nonfinite(const float* x, int64_t n);
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t n, const AdamWParams& p);

// Not in the table: out (n) = the bf16 values x (their bits), as fp32 (round_to_bf16's inverse on bf16 values).
void widen_bf16(float* out, const uint16_t* x, int64_t n);

}  // namespace tessera::ops::cuda
