// SwiGLU feed-forward activation (LLaMA): silu(gate) * up, with gate and up produced by one fused linear layer.
#include <cmath>

#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void swiglu_forward(T* out, const T* inp, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* gate = inp + static_cast<int64_t>(i) * 2 * F;  // (F)
    const T* up = gate + F;                                 // (F)
    T* o = out + static_cast<int64_t>(i) * F;
#pragma omp simd
    for (int f = 0; f < F; ++f) {
      const T g = gate[f];
      o[f] = g / (T(1) + cpu::exp(-g)) * up[f];
    }
  }
}

// d silu(g)/dg = sigmoid(g) * (1 + g * (1 - sigmoid(g)))
template <typename T>
void swiglu_backward(T* dinp, const T* inp, const T* dout, int N, int F) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* gate = inp + static_cast<int64_t>(i) * 2 * F;
    const T* up = gate + F;
    const T* d = dout + static_cast<int64_t>(i) * F;
    T* dgate = dinp + static_cast<int64_t>(i) * 2 * F;
    T* dup = dgate + F;
#pragma omp simd
    for (int f = 0; f < F; ++f) {
      const T g = gate[f];
      const T sig = T(1) / (T(1) + cpu::exp(-g));
      dgate[f] = d[f] * up[f] * sig * (T(1) + g * (T(1) - sig));
      dup[f] = d[f] * g * sig;
    }
  }
}

template void swiglu_forward<float>(float*, const float*, int, int);
template void swiglu_forward<double>(double*, const double*, int, int);
template void swiglu_backward<float>(float*, const float*, const float*, int, int);
template void swiglu_backward<double>(double*, const double*, const double*, int, int);

}  // namespace tessera::ops
