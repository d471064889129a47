// Softmax cross-entropy on CUDA, one block per row of logits; the loss sum is added in row order on the device (in
// double, as the CPU op does) to the caller's device double, which the step reads once. Vocab-parallel pieces as in
// ops.hpp.
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

// log-sum-exp of row[0, V) for the whole block
__device__ float row_lse(const float* row, int V, float* shared) {
  float mx = -INFINITY;
  for (int j = static_cast<int>(threadIdx.x); j < V; j += blockDim.x) mx = fmaxf(mx, row[j]);
  mx = block_max(mx, shared);
  float s = 0;
  for (int j = static_cast<int>(threadIdx.x); j < V; j += blockDim.x) s += expf(row[j] - mx);
  return mx + logf(block_sum(s, shared));
}

// In place: (softmax - onehot(target)) * dloss on [0, V), zero on the padding and on ignored rows.
__device__ void row_dlogits(float* row, float lse, int32_t target, float dloss, int V, int Vp) {
  for (int j = static_cast<int>(threadIdx.x); j < Vp; j += blockDim.x) {
    float d = 0;
    if (target >= 0 && j < V) d = expf(row[j] - lse) * dloss - (j == target ? dloss : 0.0F);
    row[j] = d;
  }
}

__global__ void cross_entropy_forward_kernel(float* losses, float* lse, const float* logits, const int32_t* targets,
                                             int V, int Vp) {
  __shared__ float shared[32];
  const int64_t i = blockIdx.x;
  const float* row = logits + i * Vp;
  const float l = row_lse(row, V, shared);
  if (threadIdx.x == 0) {
    lse[i] = l;
    losses[i] = targets[i] >= 0 ? l - row[targets[i]] : 0.0F;
  }
}

__global__ void cross_entropy_backward_kernel(float* logits, const float* lse, const int32_t* targets, float dloss,
                                              int V, int Vp) {
  const int64_t i = blockIdx.x;
  row_dlogits(logits + i * Vp, lse[i], targets[i], dloss, V, Vp);
}

__global__ void cross_entropy_fused_kernel(float* logits, float* losses, const int32_t* targets, float dloss, int V,
                                           int Vp) {
  __shared__ float shared[32];
  const int64_t i = blockIdx.x;
  float* row = logits + i * Vp;
  const float l = row_lse(row, V, shared);
  const int32_t target = targets[i];
  const float target_logit = target >= 0 ? row[target] : 0.0F;  // read by every thread before any overwrites it
  __syncthreads();
  if (threadIdx.x == 0) losses[i] = target >= 0 ? l - target_logit : 0.0F;
  row_dlogits(row, l, target, dloss, V, Vp);
}

// *out += the sum of x[0, n) in order, in double (one thread: the CPU op's order exactly). Nothing waits for it.
__global__ void add_sum_in_order_kernel(double* out, const float* x, int n) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += static_cast<double>(x[i]);
  *out += total;
}

void add_sum_in_order(double* out, const float* x, int n) {
  add_sum_in_order_kernel<<<1, 1, 0, stream()>>>(out, x, n);
  check_launch("cross_entropy (loss sum)");
}

__global__ void vocab_parallel_max_kernel(float* rowmax, const float* logits, int Vn, int Vp_local) {
  __shared__ float shared[32];
  const int64_t i = blockIdx.x;
  const float* row = logits + i * Vp_local;
  float mx = -INFINITY;
  for (int j = static_cast<int>(threadIdx.x); j < Vn; j += blockDim.x) mx = fmaxf(mx, row[j]);
  mx = block_max(mx, shared);
  if (threadIdx.x == 0) rowmax[i] = mx;
}

__global__ void vocab_parallel_sum_exp_kernel(float* sums, const float* logits, const float* rowmax,
                                              const int32_t* targets, int v0, int Vn, int Vp_local) {
  __shared__ float shared[32];
  const int64_t i = blockIdx.x;
  const float* row = logits + i * Vp_local;
  const float mx = rowmax[i];
  float s = 0;
  for (int j = static_cast<int>(threadIdx.x); j < Vn; j += blockDim.x) s += expf(row[j] - mx);
  s = block_sum(s, shared);
  if (threadIdx.x == 0) {
    const int64_t t = static_cast<int64_t>(targets[i]) - v0;
    sums[2 * i] = s;
    sums[2 * i + 1] = targets[i] >= 0 && t >= 0 && t < Vn ? row[t] : 0.0F;
  }
}

__global__ void vocab_parallel_loss_kernel(float* losses, float* lse, const float* sums, const int32_t* targets,
                                           int N) {
  TESSERA_GRID_STRIDE(i, N) {
    lse[i] += logf(sums[2 * i]);
    losses[i] = targets[i] >= 0 ? lse[i] - sums[2 * i + 1] : 0.0F;
  }
}

__global__ void vocab_parallel_backward_kernel(float* logits, const float* lse, const int32_t* targets, float dloss,
                                               int v0, int Vn, int Vp_local) {
  const int64_t i = blockIdx.x;
  float* row = logits + i * Vp_local;
  const int64_t t = static_cast<int64_t>(targets[i]) - v0;
  const float l = lse[i];
  for (int j = static_cast<int>(threadIdx.x); j < Vp_local; j += blockDim.x) {
    float d = 0;
    if (targets[i] >= 0 && j < Vn) d = expf(row[j] - l) * dloss - (j == t ? dloss : 0.0F);
    row[j] = d;
  }
}

}  // namespace

void cross_entropy_forward(float* losses, float* lse, const float* logits, const int32_t* targets, int N, int V, int Vp,
                           double* loss_sum) {
  if (N == 0) return;
  cross_entropy_forward_kernel<<<N, kThreads, 0, stream()>>>(losses, lse, logits, targets, V, Vp);
  check_launch("cross_entropy_forward");
  add_sum_in_order(loss_sum, losses, N);
}

void cross_entropy_backward(float* logits, const float* lse, const int32_t* targets, float dloss, int N, int V,
                            int Vp) {
  if (N == 0) return;
  cross_entropy_backward_kernel<<<N, kThreads, 0, stream()>>>(logits, lse, targets, dloss, V, Vp);
  check_launch("cross_entropy_backward");
}

void cross_entropy_forward_backward(float* logits, float* losses, const int32_t* targets, float dloss, int N, int V,
                                    int Vp, double* loss_sum) {
  if (N == 0) return;
  cross_entropy_fused_kernel<<<N, kThreads, 0, stream()>>>(logits, losses, targets, dloss, V, Vp);
  check_launch("cross_entropy_forward_backward");
  add_sum_in_order(loss_sum, losses, N);
}

void vocab_parallel_max(float* rowmax, const float* logits, int N, int Vn, int Vp_local) {
  if (N == 0) return;
  vocab_parallel_max_kernel<<<N, kThreads, 0, stream()>>>(rowmax, logits, Vn, Vp_local);
  check_launch("vocab_parallel_max");
}

void vocab_parallel_sum_exp(float* sums, const float* logits, const float* rowmax, const int32_t* targets, int N,
                            int v0, int Vn, int Vp_local) {
  if (N == 0) return;
  vocab_parallel_sum_exp_kernel<<<N, kThreads, 0, stream()>>>(sums, logits, rowmax, targets, v0, Vn, Vp_local);
  check_launch("vocab_parallel_sum_exp");
}

void vocab_parallel_loss(float* losses, float* lse, const float* sums, const int32_t* targets, int N,
                         double* loss_sum) {
  if (N == 0) return;
  vocab_parallel_loss_kernel<<<grid_for(N), kThreads, 0, stream()>>>(losses, lse, sums, targets, N);
  check_launch("vocab_parallel_loss");
  add_sum_in_order(loss_sum, losses, N);
}

void vocab_parallel_backward(float* logits, const float* lse, const int32_t* targets, float dloss, int N, int v0,
                             int Vn, int Vp_local) {
  if (N == 0) return;
  vocab_parallel_backward_kernel<<<N, kThreads, 0, stream()>>>(logits, lse, targets, dloss, v0, Vn, Vp_local);
  check_launch("vocab_parallel_backward");
}

}  // namespace tessera::ops::cuda
