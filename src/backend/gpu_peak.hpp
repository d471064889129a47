// The MFU denominator on a GPU: the dense peak of the products a run makes (train.dtype), as NVIDIA states it.
//
// On the CPU the denominator is measured (core/peak_flops.hpp): no vendor states a CPU's sgemm rate. A GPU's datasheet
// does, and MFU is quoted against it (PaLM's definition; llm.c and Megatron users compare against the same numbers):
// bf16 products run on the tensor cores (bf16 in, fp32 accumulate, dense, not the 2:4-sparsity figure), fp32 products
// on the CUDA cores (FMA, no TF32). GPUs outside the table get an estimate from their SM count, clock and the FLOP per
// clock per SM of their architecture, and the source says so.
#pragma once

#include <string>

namespace tessera {

struct GpuPeak {
  double flops = 0;    // FLOP/s of one GPU
  std::string source;  // where the number comes from, for the log
};

// name: the device's name (cudaDeviceProp::name, e.g. "NVIDIA H100 80GB HBM3"); major.minor: its compute capability;
// sms: its multiprocessors; clock_hz: its peak SM clock; bf16: the products' operands are bf16 (else fp32).
GpuPeak gpu_peak_flops(const std::string& name, int major, int minor, int sms, double clock_hz, bool bf16);

}  // namespace tessera
