// Rotary position embedding, rotate-half convention (pairs (i, i + HS/2), as Hugging Face LLaMA stores q and k).
//   angle(t, i) = t * theta^(-2i/HS);  (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)
#include <cmath>

#include "ops/ops.hpp"

namespace tessera::ops {

void rope_tables(float* cos, float* sin, int Tmax, int HS, float theta) {
  const int half = HS / 2;
  for (int t = 0; t < Tmax; ++t) {
    for (int i = 0; i < half; ++i) {
      const double freq = std::pow(static_cast<double>(theta), -2.0 * i / HS);
      const double angle = t * freq;
      cos[static_cast<int64_t>(t) * half + i] = static_cast<float>(std::cos(angle));
      sin[static_cast<int64_t>(t) * half + i] = static_cast<float>(std::sin(angle));
    }
  }
}

namespace {
// Rotates the q and k heads of every token by +angle (direction = 1) or -angle (direction = -1).
template <typename T>
void rotate(T* qkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS, T direction) {
  const int half = HS / 2;
  const int64_t row = static_cast<int64_t>(NH + 2 * NKV) * HS;
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < static_cast<int64_t>(B) * Tn; ++bt) {
    const int t = static_cast<int>(bt % Tn);
    const float* c = cos + static_cast<int64_t>(t) * half;
    const float* s = sin + static_cast<int64_t>(t) * half;
    for (int h = 0; h < NH + NKV; ++h) {  // the q heads, then the k heads
      T* x = qkv + bt * row + static_cast<int64_t>(h) * HS;
      for (int i = 0; i < half; ++i) {
        const T x1 = x[i];
        const T x2 = x[i + half];
        const T sn = direction * static_cast<T>(s[i]);
        x[i] = x1 * static_cast<T>(c[i]) - x2 * sn;
        x[i + half] = x2 * static_cast<T>(c[i]) + x1 * sn;
      }
    }
  }
}
}  // namespace

template <typename T>
void rope_forward(T* qkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS) {
  rotate(qkv, cos, sin, B, Tn, NH, NKV, HS, T(1));
}

template <typename T>
void rope_backward(T* dqkv, const float* cos, const float* sin, int B, int Tn, int NH, int NKV, int HS) {
  rotate(dqkv, cos, sin, B, Tn, NH, NKV, HS, T(-1));
}

template void rope_forward<float>(float*, const float*, const float*, int, int, int, int, int);
template void rope_forward<double>(double*, const float*, const float*, int, int, int, int, int);
template void rope_backward<float>(float*, const float*, const float*, int, int, int, int, int);
template void rope_backward<double>(double*, const float*, const float*, int, int, int, int, int);

}  // namespace tessera::ops
