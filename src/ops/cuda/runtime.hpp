// The CUDA runtime of one process: its device, compute stream, cuBLASLt handle and workspace, and device scratch
// for the ops that need some (attention's dS, reductions' partial sums, host-scalar results). Started by the CUDA
// backend (one GPU per rank); the ops of this folder reach it through runtime().
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tessera::ops::cuda {

struct Runtime {
  int device = -1;
  cudaStream_t stream = nullptr;
  cublasLtHandle_t lt = nullptr;
  void* lt_workspace = nullptr;
  size_t lt_workspace_bytes = 0;
  // grow-only device scratch (reserved before the first step by reserve_scratch; a larger request grows it once)
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  // pinned host memory for scalar results (loss sums, norms, flags): one read per call
  double* host_scalars = nullptr;
  double* device_scalars = nullptr;
};

// The started runtime (checked). One device per process: every CUDA backend of the process shares it, and the last
// one to stop stops it.
Runtime& runtime();
void start_runtime(int device);
void stop_runtime();
// At least `bytes` of device scratch (the same pointer until a larger request).
void* scratch(size_t bytes);

// Checks a CUDA call; throws std::runtime_error naming the call and CUDA's message.
void check(cudaError_t status, const char* what);
void check(cublasStatus_t status, const char* what);
// Checks the launch just issued.
void check_launch(const char* kernel);

inline int blocks_for(int64_t n, int threads) {
  return static_cast<int>((n + threads - 1) / threads);
}

}  // namespace tessera::ops::cuda
