// Launch shapes and block reductions shared by the CUDA ops. Every reduction runs in a fixed order for a given
// problem size (no atomics on values), so a CUDA op gives the same bits run after run, as the CPU ops do.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "ops/cuda/runtime.hpp"

namespace tessera::ops::cuda {

constexpr int kThreads = 256;  // threads per block of the element-wise and row kernels
constexpr int64_t kMaxBlocks = int64_t{1} << 20;

// Blocks for a grid-stride loop over n elements.
inline int grid_for(int64_t n) {
  return static_cast<int>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
}

inline cudaStream_t stream() {
  return runtime().stream;
}

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffU, v, offset);
  return v;
}

__device__ inline float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffU, v, offset));
  return v;
}

// The sum of v over the block, returned to every thread. shared: 32 elements of shared memory.
template <typename T>
__device__ inline T block_sum(T v, T* shared) {
  v = warp_sum(v);
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int warp = static_cast<int>(threadIdx.x / 32);
  __syncthreads();  // a previous call may still be reading shared
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x / 32);
  return warp_sum(lane < warps ? shared[lane] : T(0));
}

__device__ inline float block_max(float v, float* shared) {
  v = warp_max(v);
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int warp = static_cast<int>(threadIdx.x / 32);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = static_cast<int>(blockDim.x / 32);
  return warp_max(lane < warps ? shared[lane] : -INFINITY);
}

// Copies `count` doubles of the runtime's device scalars to the host and waits: the one read of a call.
inline const double* read_scalars(int count) {
  Runtime& r = runtime();
  check(cudaMemcpyAsync(r.host_scalars, r.device_scalars, static_cast<size_t>(count) * sizeof(double),
                        cudaMemcpyDeviceToHost, r.stream),
        "cudaMemcpyAsync (scalars)");
  check(cudaStreamSynchronize(r.stream), "cudaStreamSynchronize (scalars)");
  return r.host_scalars;
}

}  // namespace tessera::ops::cuda

#define TESSERA_GRID_STRIDE(i, n)                                                                            \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < static_cast<int64_t>(n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
