// The CUDA runtime of the process (see runtime.hpp).
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "ops/cuda/ops_cuda.hpp"
#include "ops/cuda/runtime.hpp"

namespace tessera::ops::cuda {
namespace {

constexpr int kScalars = 64;

Runtime g_runtime;
int g_users = 0;  // CUDA backends alive: the last one stops the runtime

}  // namespace

void check(cudaError_t status, const char* what) {
  if (status == cudaSuccess) return;
  throw std::runtime_error(
      fmt::format("CUDA: {} failed: {} ({})", what, cudaGetErrorString(status), cudaGetErrorName(status)));
}

void check(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw std::runtime_error(fmt::format("cuBLASLt: {} failed: status {}", what, static_cast<int>(status)));
}

void check_launch(const char* kernel) {
  check(cudaGetLastError(), kernel);
}

Runtime& runtime() {
  if (g_runtime.device < 0) throw std::runtime_error("CUDA op called before the CUDA backend started");
  return g_runtime;
}

void start_runtime(int device) {
  if (g_runtime.device == device) {
    ++g_users;
    return;
  }
  if (g_runtime.device >= 0) throw std::runtime_error("the CUDA runtime is started on another device already");
  check(cudaSetDevice(device), "cudaSetDevice");
  Runtime r;
  r.device = device;
  check(cudaStreamCreateWithFlags(&r.stream, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cublasLtCreate(&r.lt), "cublasLtCreate");
  r.lt_workspace_bytes = static_cast<size_t>(kLtWorkspaceBytes);
  check(cudaMalloc(&r.lt_workspace, r.lt_workspace_bytes), "cudaMalloc (cuBLASLt workspace)");
  check(cudaMallocHost(reinterpret_cast<void**>(&r.host_scalars), kScalars * sizeof(double)), "cudaMallocHost");
  check(cudaMalloc(reinterpret_cast<void**>(&r.device_scalars), kScalars * sizeof(double)), "cudaMalloc (scalars)");
  g_runtime = r;
  g_users = 1;
}

void stop_runtime() {
  if (g_runtime.device < 0 || --g_users > 0) return;
  cudaStreamSynchronize(g_runtime.stream);
  cudaFree(g_runtime.scratch);
  cudaFree(g_runtime.device_scalars);
  cudaFreeHost(g_runtime.host_scalars);
  cudaFree(g_runtime.lt_workspace);
  cublasLtDestroy(g_runtime.lt);
  cudaStreamDestroy(g_runtime.stream);
  g_runtime = Runtime{};
}

void* scratch(size_t bytes) {
  Runtime& r = runtime();
  if (bytes > r.scratch_bytes) {
    check(cudaStreamSynchronize(r.stream), "cudaStreamSynchronize");
    check(cudaFree(r.scratch), "cudaFree (scratch)");
    r.scratch = nullptr;
    check(cudaMalloc(&r.scratch, bytes), "cudaMalloc (scratch)");
    r.scratch_bytes = bytes;
  }
  return r.scratch;
}

}  // namespace tessera::ops::cuda
