// Reductions over flat buffers on CUDA: a fixed grid of blocks sums fixed strides, the block sums are added in
// order by one more block: the same bits for the same n, whatever the device.
#include <cmath>

#include "ops/cuda/common.cuh"
#include "ops/cuda/ops_cuda.hpp"

namespace tessera::ops::cuda {
namespace {

constexpr int kBlocks = 1024;

__global__ void sum_squares_partial_kernel(double* partial, const float* x, int64_t n) {
  __shared__ double shared[32];
  double s = 0;
  TESSERA_GRID_STRIDE(i, n) {
    s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  }
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// out[0] = (add ? out[0] : 0) + the partials in order
__global__ void sum_partials_kernel(double* out, const double* partial, int count, bool add) {
  if (threadIdx.x != 0) return;
  double total = 0;
  for (int i = 0; i < count; ++i) total += partial[i];
  out[0] = add ? out[0] + total : total;
}

__global__ void nonfinite_kernel(double* flag, const float* x, int64_t n) {
  TESSERA_GRID_STRIDE(i, n) {
    if (!isfinite(x[i])) flag[0] = 1.0;  // every writer writes the same value
  }
}

}  // namespace

double sum_squares(const float* x, int64_t n) {
  Runtime& r = runtime();
  auto* partial = static_cast<double*>(scratch(kBlocks * sizeof(double)));
  sum_squares_partial_kernel<<<kBlocks, kThreads, 0, r.stream>>>(partial, x, n);
  check_launch("sum_squares");
  sum_partials_kernel<<<1, 32, 0, r.stream>>>(r.device_scalars, partial, kBlocks, false);
  check_launch("sum_squares (total)");
  return read_scalars(1)[0];
}

// The partial sums go through the runtime's scratch, reused by the next call only after this one's kernels (one
// stream): no wait for the host.
void sum_squares_to(double* out, const float* x, int64_t n) {
  Runtime& r = runtime();
  auto* partial = static_cast<double*>(scratch(kBlocks * sizeof(double)));
  sum_squares_partial_kernel<<<kBlocks, kThreads, 0, r.stream>>>(partial, x, n);
  check_launch("sum_squares_to");
  sum_partials_kernel<<<1, 32, 0, r.stream>>>(out, partial, kBlocks, true);
  check_launch("sum_squares_to (total)");
}

bool has_nonfinite(const float* x, int64_t n) {
  Runtime& r = runtime();
  check(cudaMemsetAsync(r.device_scalars, 0, sizeof(double), r.stream), "cudaMemsetAsync");
  nonfinite_kernel<<<grid_for(n), kThreads, 0, r.stream>>>(r.device_scalars, x, n);
  check_launch("has_nonfinite");
  return read_scalars(1)[0] != 0;
}

}  // namespace tessera::ops::cuda
