// exp and tanh that the compiler vectorises inside `#pragma omp simd` loops (std::expf and std::tanhf are scalar
// library calls without -ffast-math). Float only: the double instantiations, which the finite-difference tests use,
// keep std::exp.
//
// exp: Cephes' expf. x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial, 2^n put into the exponent.
// Relative error about 2e-7 over the clamped range [-87.3, 88.7] (below it the result is ~1e-38 instead of 0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace tessera::ops::cpu {

inline float fast_exp(float x) {
  x = x < -87.3F ? -87.3F : (x > 88.7F ? 88.7F : x);
  const float t = x * 1.44269504088896341F + 0.5F;
  const int32_t ni = static_cast<int32_t>(t) - (t < 0.0F ? 1 : 0);  // floor(t) on the clamped range
  const auto n = static_cast<float>(ni);
  const float r = x - n * 0.693359375F + n * 2.12194440e-4F;
  float p = 1.9875691500E-4F;
  p = p * r + 1.3981999507E-3F;
  p = p * r + 8.3334519073E-3F;
  p = p * r + 4.1665795894E-2F;
  p = p * r + 1.6666665459E-1F;
  p = p * r + 5.0000001201E-1F;
  const float y = p * r * r + r + 1.0F;
  const int32_t bits = (ni + 127) << 23;  // 2^n
  float scale = 0;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

template <typename T>
inline T exp(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return fast_exp(x);
  } else {
    return std::exp(x);
  }
}

// tanh(u) = 1 - 2 / (e^{2u} + 1): exact at the ends, absolute error ~1e-7 near 0.
template <typename T>
inline T tanh(T u) {
  if constexpr (std::is_same_v<T, float>) {
    return 1.0F - 2.0F / (fast_exp(2.0F * u) + 1.0F);
  } else {
    return std::tanh(u);
  }
}

}  // namespace tessera::ops::cpu
