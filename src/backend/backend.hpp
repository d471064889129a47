// The backend seam: where a run's buffers live, how bytes move between them and the host, and which op table
// computes on them. One binary holds both backends; `train.device` picks one at start-up ("cpu", "cuda", or "auto":
// cuda when a GPU is visible). The CUDA backend exists only in a build with TESSERA_CUDA; asking for it elsewhere is
// one clear error. Model and trainer code talk to this interface only: the #if of the build lives in which .cpp
// file implements make_cuda_backend (src/backend/cuda_backend.cpp, or no_cuda.cpp), never in their code.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "backend/gpu_peak.hpp"
#include "ops/op_table.hpp"

namespace tessera {

enum class Device { kCpu, kCuda };

struct DeviceMemory {
  int64_t free_bytes = 0;
  int64_t total_bytes = 0;
};

class Backend {
 public:
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  // "cpu" or "cuda" (the value of train.device that selects it)
  virtual const char* name() const = 0;
  // One line for logs: "cpu: 2 threads", "cuda: NVIDIA H200 (sm_90, 139.8 GiB), device 0 of 8".
  virtual std::string description() const = 0;

  // Memory of this backend, aligned to 256 bytes; throws std::runtime_error naming the size when none is left.
  virtual void* allocate(int64_t bytes) = 0;
  virtual void release(void* data) noexcept = 0;
  // Copies in the order they are issued on the backend's compute stream; a download returns once its bytes are on
  // the host.
  virtual void upload(void* dst, const void* host_src, int64_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, int64_t bytes) = 0;
  virtual void copy(void* dst, const void* src, int64_t bytes) = 0;
  virtual void zero(void* dst, int64_t bytes) = 0;
  // Waits until everything issued so far is done.
  virtual void synchronize() = 0;
  // The compute stream (a cudaStream_t on CUDA; nullptr on the CPU), for the NCCL communicator's ordering.
  virtual void* stream() const = 0;
  virtual DeviceMemory memory() const = 0;

  // Equal on two processes of a machine exactly when they compute on the same device: a hash of the GPU's UUID on
  // CUDA; 0 on the CPU (processes share no device buffers there). NCCL refuses two ranks of a group on one GPU.
  virtual uint64_t device_uid() const = 0;

  // The device's stated peak for the products of train.dtype (bf16: tensor cores; else fp32), the MFU denominator of
  // one device: a GPU's datasheet figure (backend/gpu_peak.hpp); {0, ""} on the CPU, whose peak is measured instead.
  virtual GpuPeak stated_peak_flops(bool bf16) const = 0;

  // This backend's ops on float buffers.
  virtual const ops::OpTable<float>& ops() const = 0;
};

// A typed buffer of a backend's memory: RAII, move-only.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& backend, int64_t n)
      : backend_(&backend), data_(static_cast<T*>(backend.allocate(n * static_cast<int64_t>(sizeof(T))))), size_(n) {}
  DeviceBuffer(DeviceBuffer&& other) noexcept { swap(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    DeviceBuffer moved(std::move(other));
    swap(moved);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (data_ != nullptr) backend_->release(data_);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  int64_t size() const { return size_; }
  int64_t bytes() const { return size_ * static_cast<int64_t>(sizeof(T)); }
  void upload(const T* host) { backend_->upload(data_, host, bytes()); }
  void download(T* host) const { backend_->download(host, data_, bytes()); }
  void zero() { backend_->zero(data_, bytes()); }

 private:
  void swap(DeviceBuffer& other) noexcept {
    std::swap(backend_, other.backend_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }
  Backend* backend_ = nullptr;
  T* data_ = nullptr;
  int64_t size_ = 0;
};

// Whether this build holds the CUDA backend.
bool cuda_compiled();
// GPUs this process can use: 0 in a build without CUDA, without a driver or without a device.
int cuda_device_count();
// Why cuda_device_count() is 0, in words ("this build has no CUDA backend (TESSERA_CUDA=OFF)", "no CUDA driver: ...").
std::string cuda_unavailable_reason();

std::unique_ptr<Backend> make_cpu_backend();
// The process's CPU backend (it has no state: one serves every object not given a backend). Never destroyed, so a
// buffer released at exit still has it.
Backend& cpu_backend();
// The GPU `device` of this node (a rank takes its node-local rank modulo the GPUs visible to it). Throws
// std::runtime_error with cuda_unavailable_reason() when there is none.
std::unique_ptr<Backend> make_cuda_backend(int device);
// By train.device: "cpu", "cuda" or "auto" (cuda when a GPU is visible, else cpu). Throws on any other name, and
// with cuda_unavailable_reason() for "cuda" where there is no GPU.
std::unique_ptr<Backend> make_backend(std::string_view device, int node_local_rank = 0);
// "auto" resolved the way make_backend would: "cpu" or "cuda".
std::string resolve_device(std::string_view device);

}  // namespace tessera
