// Multi-head attention with grouped-query heads on CUDA, with the CPU op's contract: the probabilities (B, NH, T, T)
// are kept for backward, and backward keeps dS (B, NH, T, T) in the runtime's scratch. One block per (batch, head,
// query) row; dk and dv by one block per (batch, kv head, key), adding the group's heads and the queries in order.
// (The fused cuDNN flash attention, which keeps neither, is the next step: see docs/gpu.md.)
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

struct Shape {
  int Tn, NH, NKV, HS;
  __host__ __device__ int qkv() const { return (NH + 2 * NKV) * HS; }
};

// probs[b,h,i,:] = softmax_j(q_i . k_j * scale) over the keys that take part (zero elsewhere); out_i = P v.
__global__ void attention_forward_kernel(float* out, float* probs, const float* qkv, Shape s, float scale,
                                         bool causal) {
  __shared__ float shared[32];
  extern __shared__ float q_row[];  // (HS)
  const int i = static_cast<int>(blockIdx.x);
  const int h = static_cast<int>(blockIdx.y);
  const int b = static_cast<int>(blockIdx.z);
  const int g = h / (s.NH / s.NKV);
  const int64_t QKV = s.qkv();
  const float* base = qkv + static_cast<int64_t>(b) * s.Tn * QKV;
  for (int d = static_cast<int>(threadIdx.x); d < s.HS; d += blockDim.x) q_row[d] = base[i * QKV + h * s.HS + d];
  __syncthreads();
  float* p = probs + ((static_cast<int64_t>(b) * s.NH + h) * s.Tn + i) * s.Tn;
  const int n = causal ? i + 1 : s.Tn;
  float mx = -INFINITY;
  for (int j = static_cast<int>(threadIdx.x); j < n; j += blockDim.x) {
    const float* k = base + j * QKV + (s.NH + g) * s.HS;
    float dot = 0;
    for (int d = 0; d < s.HS; ++d) dot += q_row[d] * k[d];
    p[j] = dot * scale;
    mx = fmaxf(mx, p[j]);
  }
  mx = block_max(mx, shared);
  float sum = 0;
  for (int j = static_cast<int>(threadIdx.x); j < n; j += blockDim.x) {
    p[j] = expf(p[j] - mx);
    sum += p[j];
  }
  const float inv = 1.0F / block_sum(sum, shared);
  for (int j = static_cast<int>(threadIdx.x); j < s.Tn; j += blockDim.x) p[j] = j < n ? p[j] * inv : 0.0F;
  __syncthreads();  // the row of P is complete in global memory for every thread of the block
  const int64_t C = static_cast<int64_t>(s.NH) * s.HS;
  float* y = out + (static_cast<int64_t>(b) * s.Tn + i) * C + static_cast<int64_t>(h) * s.HS;
  for (int d = static_cast<int>(threadIdx.x); d < s.HS; d += blockDim.x) {
    float acc = 0;
    for (int j = 0; j < n; ++j) acc += p[j] * base[j * QKV + (s.NH + s.NKV + g) * s.HS + d];
    y[d] = acc;
  }
}

// dS[i,:] = P[i,:] * (dP[i,:] - sum_j P[i,j] dP[i,j]), dP[i,j] = dy_i . v_j; then dq_i = scale * sum_j dS[i,j] k_j.
__global__ void attention_backward_query_kernel(float* dqkv, float* ds, const float* dout, const float* qkv,
                                                const float* probs, Shape s, float scale) {
  __shared__ float shared[32];
  extern __shared__ float dy_row[];  // (HS)
  const int i = static_cast<int>(blockIdx.x);
  const int h = static_cast<int>(blockIdx.y);
  const int b = static_cast<int>(blockIdx.z);
  const int g = h / (s.NH / s.NKV);
  const int64_t QKV = s.qkv();
  const int64_t C = static_cast<int64_t>(s.NH) * s.HS;
  const float* base = qkv + static_cast<int64_t>(b) * s.Tn * QKV;
  const float* dy = dout + (static_cast<int64_t>(b) * s.Tn + i) * C + static_cast<int64_t>(h) * s.HS;
  for (int d = static_cast<int>(threadIdx.x); d < s.HS; d += blockDim.x) dy_row[d] = dy[d];
  __syncthreads();
  const int64_t row = ((static_cast<int64_t>(b) * s.NH + h) * s.Tn + i) * s.Tn;
  const float* p = probs + row;
  float* dsr = ds + row;
  float dot = 0;
  for (int j = static_cast<int>(threadIdx.x); j < s.Tn; j += blockDim.x) {
    const float* v = base + j * QKV + (s.NH + s.NKV + g) * s.HS;
    float dp = 0;
    for (int d = 0; d < s.HS; ++d) dp += dy_row[d] * v[d];
    dsr[j] = dp;
    dot += p[j] * dp;
  }
  dot = block_sum(dot, shared);
  for (int j = static_cast<int>(threadIdx.x); j < s.Tn; j += blockDim.x) dsr[j] = p[j] * (dsr[j] - dot);
  __syncthreads();
  float* dq = dqkv + (static_cast<int64_t>(b) * s.Tn + i) * QKV + static_cast<int64_t>(h) * s.HS;
  for (int d = static_cast<int>(threadIdx.x); d < s.HS; d += blockDim.x) {
    float acc = 0;
    for (int j = 0; j < s.Tn; ++j) acc += dsr[j] * base[j * QKV + (s.NH + g) * s.HS + d];
    dq[d] = scale * acc;
  }
}

// dk_j = scale * sum_{h in group} sum_i dS_h[i,j] q^h_i;  dv_j = sum_{h in group} sum_i P_h[i,j] dy^h_i  (written)
__global__ void attention_backward_key_kernel(float* dqkv, const float* ds, const float* dout, const float* qkv,
                                              const float* probs, Shape s, float scale) {
  const int j = static_cast<int>(blockIdx.x);
  const int g = static_cast<int>(blockIdx.y);
  const int b = static_cast<int>(blockIdx.z);
  const int group = s.NH / s.NKV;
  const int64_t QKV = s.qkv();
  const int64_t C = static_cast<int64_t>(s.NH) * s.HS;
  const float* base = qkv + static_cast<int64_t>(b) * s.Tn * QKV;
  float* dbase = dqkv + static_cast<int64_t>(b) * s.Tn * QKV;
  for (int d = static_cast<int>(threadIdx.x); d < s.HS; d += blockDim.x) {
    float dk = 0;
    float dv = 0;
    for (int hg = 0; hg < group; ++hg) {
      const int h = g * group + hg;
      const int64_t head = (static_cast<int64_t>(b) * s.NH + h) * s.Tn;
      for (int i = 0; i < s.Tn; ++i) {
        const int64_t at = (head + i) * s.Tn + j;
        dk += ds[at] * base[i * QKV + h * s.HS + d];
        dv += probs[at] * dout[(static_cast<int64_t>(b) * s.Tn + i) * C + h * s.HS + d];
      }
    }
    dbase[j * QKV + (s.NH + g) * s.HS + d] = scale * dk;
    dbase[j * QKV + (s.NH + s.NKV + g) * s.HS + d] = dv;
  }
}

int threads_for(int Tn) {
  return Tn >= 256 ? 256 : (Tn >= 128 ? 128 : (Tn >= 64 ? 64 : 32));
}

}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, int B, int Tn, int NH, int NKV, int HS,
                       bool causal) {
  if (B == 0 || Tn == 0) return;
  const Shape s{Tn, NH, NKV, HS};
  const float scale = 1.0F / sqrtf(static_cast<float>(HS));
  const dim3 grid(static_cast<unsigned>(Tn), static_cast<unsigned>(NH), static_cast<unsigned>(B));
  attention_forward_kernel<<<grid, threads_for(Tn), HS * sizeof(float), stream()>>>(out, probs, qkv, s, scale, causal);
  check_launch("attention_forward");
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* probs, int B, int Tn, int NH,
                        int NKV, int HS, Context<float>& /*ctx*/) {
  if (B == 0 || Tn == 0) return;
  const Shape s{Tn, NH, NKV, HS};
  const float scale = 1.0F / sqrtf(static_cast<float>(HS));
  auto* ds = static_cast<float*>(scratch(static_cast<size_t>(attention_scratch_bytes(B, NH, Tn, false))));
  const dim3 rows(static_cast<unsigned>(Tn), static_cast<unsigned>(NH), static_cast<unsigned>(B));
  attention_backward_query_kernel<<<rows, threads_for(Tn), HS * sizeof(float), stream()>>>(dqkv, ds, dout, qkv, probs,
                                                                                           s, scale);
  check_launch("attention_backward (queries)");
  const dim3 keys(static_cast<unsigned>(Tn), static_cast<unsigned>(NKV), static_cast<unsigned>(B));
  attention_backward_key_kernel<<<keys, threads_for(HS), 0, stream()>>>(dqkv, ds, dout, qkv, probs, s, scale);
  check_launch("attention_backward (keys and values)");
}

}  // namespace tessera::ops::cuda
