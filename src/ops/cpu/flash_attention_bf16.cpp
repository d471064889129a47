// Attention with bf16 operands on the CPU: the reference for cuDNN's fused flash attention on the CUDA backend.
// The operands are rounded to bf16 where cuDNN reads them in bf16 (q, k, v, the output's gradient; the output as
// the forward wrote it, already rounded) and the flash op (fp32 scores, softmax statistics and sums) runs on the
// rounded values; the output and dqkv are rounded as cuDNN writes them. cuDNN also rounds the probabilities before
// they multiply v (and dO), which this does not: the two agree to bf16's precision, not bit for bit.
#include "ops/cpu/bf16.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

void flash_attention_bf16_forward(float* out, float* lse, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                                  bool causal, float* scratch, Context<float>& ctx) {
  const int64_t BT = static_cast<int64_t>(B) * Tn;
  widen_rounded(scratch, qkv, BT * (NH + 2 * NKV) * HS);
  flash_attention_forward(out, lse, scratch, B, Tn, NH, NKV, HS, causal, ctx);
  widen_rounded(out, out, BT * NH * HS);
}

void flash_attention_bf16_backward(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse,
                                   int B, int Tn, int NH, int NKV, int HS, bool causal, float* scratch,
                                   Context<float>& ctx) {
  const int64_t BT = static_cast<int64_t>(B) * Tn;
  const int64_t n_qkv = BT * (NH + 2 * NKV) * HS;
  float* rounded_qkv = scratch;
  float* rounded_dout = scratch + n_qkv;
  widen_rounded(rounded_qkv, qkv, n_qkv);
  widen_rounded(rounded_dout, dout, BT * NH * HS);
  flash_attention_backward(dqkv, rounded_dout, rounded_qkv, out, lse, B, Tn, NH, NKV, HS, causal, ctx);
  widen_rounded(dqkv, dqkv, n_qkv);
}

std::string flash_attention_bf16_check(int /*B*/, int /*Tn*/, int /*NH*/, int /*NKV*/, int /*HS*/, bool /*causal*/,
                                       int64_t* workspace_bytes) {
  *workspace_bytes = 0;
  return "";
}

}  // namespace tessera::ops
