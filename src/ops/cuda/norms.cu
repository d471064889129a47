// LayerNorm and RMSNorm on CUDA: one block per row for the forward and the input gradient; one thread per column,
// adding the rows in order, for the weight gradients (deterministic, as the CPU's column blocks). The fused residual
// + norm forwards write the row of the residual stream and normalise it in the same block: each thread reads back
// only the columns it wrote.
#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

// The block's row: res = x + (y + bias) (bias may be null), each thread its columns.
__device__ void residual_row(float* res, const float* x, const float* y, const float* bias, int C) {
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) {
    res[c] = bias != nullptr ? x[c] + (y[c] + bias[c]) : x[c] + y[c];
  }
}

// LayerNorm of the block's row x into o; mean and rstd of row `row`.
__device__ void layernorm_row(float* o, float* mean, float* rstd, const float* x, const float* w, const float* b,
                              int64_t row, int C, float eps) {
  __shared__ float shared[32];
  float s = 0;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) s += x[c];
  const float m = block_sum(s, shared) / static_cast<float>(C);
  float v = 0;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) v += (x[c] - m) * (x[c] - m);
  const float r = 1.0F / sqrtf(block_sum(v, shared) / static_cast<float>(C) + eps);
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) {
    o[c] = (x[c] - m) * r * w[c] + (b != nullptr ? b[c] : 0.0F);
  }
  if (threadIdx.x == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
}

__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                         const float* b, int C, float eps) {
  const int64_t row = blockIdx.x;
  layernorm_row(out + row * C, mean, rstd, inp + row * C, w, b, row, C, eps);
}

__global__ void residual_layernorm_forward_kernel(float* res, float* out, float* mean, float* rstd, const float* x,
                                                  const float* y, const float* bias, const float* w, const float* b,
                                                  int C, float eps) {
  const int64_t row = blockIdx.x;
  residual_row(res + row * C, x + row * C, y + row * C, bias, C);
  layernorm_row(out + row * C, mean, rstd, res + row * C, w, b, row, C, eps);
}

// dx += rstd * (g - mean(g) - n * mean(g n)), g = dout * w, n = (x - mean) * rstd
__global__ void layernorm_backward_input_kernel(float* dinp_accum, const float* dout, const float* inp, const float* w,
                                                const float* mean, const float* rstd, int C) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const float* x = inp + row * C;
  const float* d = dout + row * C;
  const float m = mean[row];
  const float r = rstd[row];
  float g_sum = 0;
  float gn_sum = 0;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) {
    const float g = d[c] * w[c];
    g_sum += g;
    gn_sum += g * (x[c] - m) * r;
  }
  const float g_mean = block_sum(g_sum, shared) / static_cast<float>(C);
  const float gn_mean = block_sum(gn_sum, shared) / static_cast<float>(C);
  float* dx = dinp_accum + row * C;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) {
    dx[c] += r * (d[c] * w[c] - g_mean - (x[c] - m) * r * gn_mean);
  }
}

// dw[c] += sum_i dout[i,c] n[i,c]; db[c] += sum_i dout[i,c]. mean = nullptr: RMSNorm (n = x rstd).
__global__ void norm_backward_weight_kernel(float* dw, float* db, const float* dout, const float* inp,
                                            const float* mean, const float* rstd, int N, int C) {
  const int c = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (c >= C) return;
  float sw = dw[c];
  float sb = db != nullptr ? db[c] : 0.0F;
  for (int64_t i = 0; i < N; ++i) {
    const float d = dout[i * C + c];
    const float x = inp[i * C + c];
    sw += mean != nullptr ? d * (x - mean[i]) * rstd[i] : d * x * rstd[i];
    sb += d;
  }
  dw[c] = sw;
  if (db != nullptr) db[c] = sb;
}

// RMSNorm of the block's row x into o; rstd of row `row`.
__device__ void rmsnorm_row(float* o, float* rstd, const float* x, const float* w, int64_t row, int C, float eps) {
  __shared__ float shared[32];
  float s = 0;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) s += x[c] * x[c];
  const float r = 1.0F / sqrtf(block_sum(s, shared) / static_cast<float>(C) + eps);
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) o[c] = x[c] * r * w[c];
  if (threadIdx.x == 0) rstd[row] = r;
}

__global__ void rmsnorm_forward_kernel(float* out, float* rstd, const float* inp, const float* w, int C, float eps) {
  const int64_t row = blockIdx.x;
  rmsnorm_row(out + row * C, rstd, inp + row * C, w, row, C, eps);
}

__global__ void residual_rmsnorm_forward_kernel(float* res, float* out, float* rstd, const float* x, const float* y,
                                                const float* bias, const float* w, int C, float eps) {
  const int64_t row = blockIdx.x;
  residual_row(res + row * C, x + row * C, y + row * C, bias, C);
  rmsnorm_row(out + row * C, rstd, res + row * C, w, row, C, eps);
}

// dx += rstd * (g - x rstd^2 mean(g x)), g = dout * w
__global__ void rmsnorm_backward_input_kernel(float* dinp_accum, const float* dout, const float* inp, const float* w,
                                              const float* rstd, int C) {
  __shared__ float shared[32];
  const int64_t row = blockIdx.x;
  const float* x = inp + row * C;
  const float* d = dout + row * C;
  const float r = rstd[row];
  float s = 0;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) s += d[c] * w[c] * x[c];
  const float gx_mean = block_sum(s, shared) / static_cast<float>(C);
  float* dx = dinp_accum + row * C;
  for (int c = static_cast<int>(threadIdx.x); c < C; c += blockDim.x) {
    dx[c] += r * (d[c] * w[c] - x[c] * r * r * gx_mean);
  }
}

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int N,
                       int C, float eps) {
  if (N == 0) return;
  layernorm_forward_kernel<<<N, kThreads, 0, stream()>>>(out, mean, rstd, inp, w, b, C, eps);
  check_launch("layernorm_forward");
}

void layernorm_backward(float* dinp_accum, float* dw, float* db, const float* dout, const float* inp, const float* w,
                        const float* mean, const float* rstd, int N, int C) {
  if (N == 0) return;
  layernorm_backward_input_kernel<<<N, kThreads, 0, stream()>>>(dinp_accum, dout, inp, w, mean, rstd, C);
  check_launch("layernorm_backward (input)");
  norm_backward_weight_kernel<<<grid_for(C), kThreads, 0, stream()>>>(dw, db, dout, inp, mean, rstd, N, C);
  check_launch("layernorm_backward (weights)");
}

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C, float eps) {
  if (N == 0) return;
  rmsnorm_forward_kernel<<<N, kThreads, 0, stream()>>>(out, rstd, inp, w, C, eps);
  check_launch("rmsnorm_forward");
}

void residual_layernorm_forward(float* res, float* out, float* mean, float* rstd, const float* x, const float* y,
                                const float* bias, const float* w, const float* b, int N, int C, float eps) {
  if (N == 0) return;
  residual_layernorm_forward_kernel<<<N, kThreads, 0, stream()>>>(res, out, mean, rstd, x, y, bias, w, b, C, eps);
  check_launch("residual_layernorm_forward");
}

void residual_rmsnorm_forward(float* res, float* out, float* rstd, const float* x, const float* y, const float* bias,
                              const float* w, int N, int C, float eps) {
  if (N == 0) return;
  residual_rmsnorm_forward_kernel<<<N, kThreads, 0, stream()>>>(res, out, rstd, x, y, bias, w, C, eps);
  check_launch("residual_rmsnorm_forward");
}

void rmsnorm_backward(float* dinp_accum, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int N, int C) {
  if (N == 0) return;
  rmsnorm_backward_input_kernel<<<N, kThreads, 0, stream()>>>(dinp_accum, dout, inp, w, rstd, C);
  check_launch("rmsnorm_backward (input)");
  norm_backward_weight_kernel<<<grid_for(C), kThreads, 0, stream()>>>(dw, nullptr, dout, inp, nullptr, rstd, N, C);
  check_launch("rmsnorm_backward (weights)");
}

}  // namespace tessera::ops::cuda
