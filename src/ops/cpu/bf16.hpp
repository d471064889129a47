// bf16 on the CPU: a float rounded to bf16 (to nearest, ties to even, as a GPU's __float2bfloat16_rn) and widened
// back. Shared by the bf16 products and the bf16 attention, the references for the CUDA backend's.
#pragma once

#include <bit>
#include <cstdint>

namespace tessera::ops {

inline uint16_t bf16_bits(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffU) > 0x7f800000U) return static_cast<uint16_t>((u >> 16) | 0x40U);  // NaN: quiet, same sign
  u += 0x7fffU + ((u >> 16) & 1U);  // to nearest, ties to even (a carry into the exponent rounds up to infinity)
  return static_cast<uint16_t>(u >> 16);
}

inline float bf16_value(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

// out (n) = x rounded to bf16, as fp32 (in place when out == x)
inline void widen_rounded(float* out, const float* x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = bf16_value(bf16_bits(x[i]));
}

}  // namespace tessera::ops
