// GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#include <algorithm>
#include <cmath>

#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {
namespace {
constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kCubic = 0.044715;
constexpr int64_t kChunk = 1 << 14;  // elements per task: threads split chunks, the vector units a chunk
}  // namespace

// Forward and backward each write the chunked loop out: one helper taking the loop body as a lambda measured 9%
// slower in the backward (bench_ops BM_gelu/backward:1, 2.61 ms against 2.41 ms).
template <typename T>
void gelu_forward(T* out, const T* inp, int64_t n) {
  const T s = static_cast<T>(kSqrt2OverPi);
  const T k = static_cast<T>(kCubic);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t end = std::min(n, c + kChunk);
#pragma omp simd
    for (int64_t i = c; i < end; ++i) {
      const T x = inp[i];
      out[i] = T(0.5) * x * (T(1) + cpu::tanh(s * (x + k * x * x * x)));
    }
  }
}

template <typename T>
void gelu_backward(T* dinp, const T* inp, const T* dout, int64_t n) {
  const T s = static_cast<T>(kSqrt2OverPi);
  const T k = static_cast<T>(kCubic);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n; c += kChunk) {
    const int64_t end = std::min(n, c + kChunk);
#pragma omp simd
    for (int64_t i = c; i < end; ++i) {
      const T x = inp[i];
      const T th = cpu::tanh(s * (x + k * x * x * x));
      const T sech2 = T(1) - th * th;
      const T grad = T(0.5) * (T(1) + th) + T(0.5) * x * sech2 * s * (T(1) + T(3) * k * x * x);
      dinp[i] = grad * dout[i];
    }
  }
}

template void gelu_forward<float>(float*, const float*, int64_t);
template void gelu_forward<double>(double*, const double*, int64_t);
template void gelu_backward<float>(float*, const float*, const float*, int64_t);
template void gelu_backward<double>(double*, const double*, const double*, int64_t);

}  // namespace tessera::ops
