// The CUDA backend: device memory (cudaMalloc), copies on the compute stream, and the ops of src/ops/cuda/.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "backend/backend.hpp"
#include "core/readable.hpp"
#include "ops/cuda/ops_cuda.hpp"
#include "ops/cuda/runtime.hpp"

namespace tessera {
namespace {

using ops::cuda::check;

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    ops::cuda::start_runtime(device);
    check(cudaGetDeviceProperties(&props_, device), "cudaGetDeviceProperties");
    int count = 0;
    check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
    count_ = count;
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;
  ~CudaBackend() override { ops::cuda::stop_runtime(); }

  Device device() const override { return Device::kCuda; }
  const char* name() const override { return "cuda"; }
  std::string description() const override {
    return fmt::format("cuda: {} (sm_{}{}, {}), device {} of {}", props_.name, props_.major, props_.minor,
                       bytes_string(static_cast<int64_t>(props_.totalGlobalMem)), device_, count_);
  }
  void* allocate(int64_t bytes) override {
    void* data = nullptr;
    const cudaError_t status = cudaMalloc(&data, static_cast<size_t>(std::max<int64_t>(bytes, 1)));
    if (status != cudaSuccess) {
      cudaGetLastError();  // clear it: the error is reported here
      const DeviceMemory m = memory();
      throw std::runtime_error(fmt::format("out of GPU memory allocating {} on device {} ({} free of {})",
                                           bytes_string(bytes), device_, bytes_string(m.free_bytes),
                                           bytes_string(m.total_bytes)));
    }
    return data;
  }
  void release(void* data) noexcept override { cudaFree(data); }
  void upload(void* dst, const void* host_src, int64_t bytes) override {
    check(cudaMemcpyAsync(dst, host_src, static_cast<size_t>(bytes), cudaMemcpyHostToDevice, stream_()),
          "cudaMemcpyAsync (upload)");
    check(cudaStreamSynchronize(stream_()), "cudaStreamSynchronize (upload)");  // the host buffer may change next
  }
  void download(void* host_dst, const void* src, int64_t bytes) override {
    check(cudaMemcpyAsync(host_dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToHost, stream_()),
          "cudaMemcpyAsync (download)");
    check(cudaStreamSynchronize(stream_()), "cudaStreamSynchronize (download)");
  }
  void copy(void* dst, const void* src, int64_t bytes) override {
    if (bytes <= 0 || dst == src) return;
    check(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), cudaMemcpyDeviceToDevice, stream_()),
          "cudaMemcpyAsync (copy)");
  }
  void zero(void* dst, int64_t bytes) override {
    if (bytes > 0) check(cudaMemsetAsync(dst, 0, static_cast<size_t>(bytes), stream_()), "cudaMemsetAsync");
  }
  void synchronize() override { check(cudaStreamSynchronize(stream_()), "cudaStreamSynchronize"); }
  void* stream() const override { return ops::cuda::runtime().stream; }
  DeviceMemory memory() const override {
    size_t free_bytes = 0;
    size_t total_bytes = 0;
    check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
    return {static_cast<int64_t>(free_bytes), static_cast<int64_t>(total_bytes)};
  }
  uint64_t device_uid() const override {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a over the 16 bytes of the GPU's UUID
    for (const char byte : props_.uuid.bytes) {
      h ^= static_cast<uint8_t>(byte);
      h *= 1099511628211ULL;
    }
    return h == 0 ? 1 : h;
  }
  GpuPeak stated_peak_flops(bool bf16) const override {
    int khz = 0;  // the peak SM clock (cudaDeviceProp's clockRate is gone in CUDA 13)
    check(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device_), "cudaDeviceGetAttribute (clock rate)");
    return gpu_peak_flops(props_.name, props_.major, props_.minor, props_.multiProcessorCount, khz * 1e3, bf16);
  }
  const ops::OpTable<float>& ops() const override { return ops::cuda::table(); }

 private:
  static cudaStream_t stream_() { return ops::cuda::runtime().stream; }
  int device_;
  int count_ = 0;
  cudaDeviceProp props_{};
};

}  // namespace

bool cuda_compiled() {
  return true;
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess && count > 0) return "";
  cudaGetLastError();
  int driver = 0;
  int runtime = 0;
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  if (driver == 0) return "no NVIDIA driver on this machine";
  if (status == cudaErrorInsufficientDriver) {
    return fmt::format("the NVIDIA driver supports CUDA {}.{}, older than this build's CUDA {}.{}", driver / 1000,
                       driver % 1000 / 10, runtime / 1000, runtime % 1000 / 10);
  }
  if (status != cudaSuccess) {
    return fmt::format("no usable GPU: {} ({})", cudaGetErrorString(status), cudaGetErrorName(status));
  }
  return "no GPU is visible to this process (CUDA_VISIBLE_DEVICES?)";
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  const int count = cuda_device_count();
  if (count == 0) throw std::runtime_error(cuda_unavailable_reason());
  if (device < 0 || device >= count) {
    throw std::runtime_error(fmt::format("GPU {} does not exist: {} visible", device, count));
  }
  return std::make_unique<CudaBackend>(device);
}

}  // namespace tessera
