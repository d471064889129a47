// The CPU backend (host memory, memcpy, the ops of src/ops/cpu/) and the choice of a backend by name.
#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "backend/backend.hpp"
#include "core/memory.hpp"
#include "core/readable.hpp"

namespace tessera {
namespace {

constexpr int64_t kAlignment = 256;

class CpuBackend final : public Backend {
 public:
  Device device() const override { return Device::kCpu; }
  const char* name() const override { return "cpu"; }
  std::string description() const override { return fmt::format("cpu: {} threads", omp_get_max_threads()); }
  void* allocate(int64_t bytes) override {
    const int64_t rounded = (std::max<int64_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
    void* data = std::aligned_alloc(kAlignment, static_cast<size_t>(rounded));
    if (data == nullptr) throw std::runtime_error("out of host memory allocating " + bytes_string(bytes));
    return data;
  }
  void release(void* data) noexcept override { std::free(data); }
  void upload(void* dst, const void* host_src, int64_t bytes) override { copy(dst, host_src, bytes); }
  void download(void* host_dst, const void* src, int64_t bytes) override { copy(host_dst, src, bytes); }
  void copy(void* dst, const void* src, int64_t bytes) override {
    if (bytes > 0 && dst != src) std::memmove(dst, src, static_cast<size_t>(bytes));
  }
  void zero(void* dst, int64_t bytes) override {
    if (bytes > 0) std::memset(dst, 0, static_cast<size_t>(bytes));
  }
  void synchronize() override {}
  void* stream() const override { return nullptr; }
  uint64_t device_uid() const override { return 0; }
  GpuPeak stated_peak_flops(bool /*bf16*/) const override { return {}; }
  DeviceMemory memory() const override {
    DeviceMemory m;
    m.total_bytes = physical_memory_bytes();
    const long pages = sysconf(_SC_AVPHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    m.free_bytes = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
    return m;
  }
  const ops::OpTable<float>& ops() const override { return ops::cpu::table<float>(); }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() {
  return std::make_unique<CpuBackend>();
}

Backend& cpu_backend() {
  static auto* const backend = new CpuBackend();  // never destroyed (see backend.hpp)
  return *backend;
}

std::string resolve_device(std::string_view device) {
  if (device == "cpu" || device == "cuda") return std::string(device);
  if (device == "auto") return cuda_device_count() > 0 ? "cuda" : "cpu";
  throw std::runtime_error(fmt::format("unknown device \"{}\": use \"cpu\", \"cuda\" or \"auto\"", device));
}

std::unique_ptr<Backend> make_backend(std::string_view device, int node_local_rank) {
  if (resolve_device(device) == "cpu") return make_cpu_backend();
  const int count = cuda_device_count();
  if (count == 0) throw std::runtime_error(cuda_unavailable_reason());
  return make_cuda_backend(node_local_rank % count);
}

}  // namespace tessera
