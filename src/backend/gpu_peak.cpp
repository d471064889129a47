#include "backend/gpu_peak.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>

namespace tessera {
namespace {

// NVIDIA's datasheets, dense: the tensor cores' bf16 figure is half the one quoted "with sparsity". The first entry
// whose text is part of the device's name ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe") holds: specific ones first.
struct Datasheet {
  std::string_view match;
  std::string_view model;
  double bf16, fp32;  // TFLOP/s
};
constexpr std::array<Datasheet, 11> kDatasheets = {{
    {"GH200", "GH200", 989.5, 66.9},
    {"H100 PCIe", "H100 PCIe", 756.5, 51.2},
    {"H100 NVL", "H100 NVL", 835.5, 60.0},
    {"H100", "H100 SXM", 989.5, 66.9},  // 1979 with sparsity
    {"H200 NVL", "H200 NVL", 835.5, 60.0},
    {"H200", "H200 SXM", 989.5, 66.9},
    {"H800 PCIe", "H800 PCIe", 756.5, 51.2},
    {"H800", "H800 SXM", 989.5, 66.9},
    {"A100", "A100", 312.0, 19.5},
    {"A800", "A800", 312.0, 19.5},
    {"L40S", "L40S", 366.5, 91.6},
}};

// FLOP per clock per SM of an architecture: bf16 on the tensor cores (fp32 accumulate, dense), fp32 FMA.
struct PerSm {
  double bf16, fp32;
};
PerSm per_sm(int major, int minor) {
  if (major >= 10) return {8192, 256};               // Blackwell
  if (major == 9) return {4096, 256};                // Hopper
  if (major == 8 && minor == 0) return {2048, 128};  // A100
  if (major == 8) return {1024, 256};                // sm_86/89 data-centre parts (GeForce: half, fp32 accumulate)
  return {1024, 128};                                // older: no bf16 tensor cores; the build targets sm_80 and up
}

}  // namespace

GpuPeak gpu_peak_flops(const std::string& name, int major, int minor, int sms, double clock_hz, bool bf16) {
  const char* what = bf16 ? "bf16 tensor cores, dense" : "fp32, no TF32";
  for (const Datasheet& d : kDatasheets) {
    if (name.find(d.match) == std::string::npos) continue;
    return {(bf16 ? d.bf16 : d.fp32) * 1e12, fmt::format("{} datasheet, {}", d.model, what)};
  }
  const PerSm p = per_sm(major, minor);
  const double per_clock = bf16 ? p.bf16 : p.fp32;
  return {sms * clock_hz * per_clock,
          fmt::format("{}: not in the datasheet table; estimated as {} SMs x {:.2f} GHz x {:.0f} FLOP per clock ({}; "
                      "log.peak_flops sets it)",
                      name, sms, clock_hz / 1e9, per_clock, what)};
}

}  // namespace tessera
