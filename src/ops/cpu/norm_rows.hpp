// One row of LayerNorm and of RMSNorm forward: what layernorm_forward, rmsnorm_forward and the fused residual +
// norm ops compute, from one definition (so the fused ops give the separate ops' bits).
#pragma once

#include <cmath>

namespace tessera::ops::cpu {

// o = (x - mean) * rstd * w + b (b may be null) over C channels; returns mean and rstd.
template <typename T>
inline void layernorm_row(T* o, T* mean, T* rstd, const T* x, const T* w, const T* b, int C, float eps) {
  T m = 0;
  for (int c = 0; c < C; ++c) m += x[c];
  m /= C;
  T var = 0;
  for (int c = 0; c < C; ++c) var += (x[c] - m) * (x[c] - m);
  var /= C;
  const T s = T(1) / std::sqrt(var + static_cast<T>(eps));
  for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * w[c] + (b != nullptr ? b[c] : T(0));
  *mean = m;
  *rstd = s;
}

// o = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps).
template <typename T>
inline void rmsnorm_row(T* o, T* rstd, const T* x, const T* w, int C, float eps) {
  T ms = 0;
  for (int c = 0; c < C; ++c) ms += x[c] * x[c];
  const T s = T(1) / std::sqrt(ms / C + static_cast<T>(eps));
  for (int c = 0; c < C; ++c) o[c] = x[c] * s * w[c];
  *rstd = s;
}

// r = x + (y + bias) (bias may be null), as residual_forward adds.
template <typename T>
inline void residual_row(T* r, const T* x, const T* y, const T* bias, int C) {
  if (bias != nullptr) {
    for (int c = 0; c < C; ++c) r[c] = x[c] + (y[c] + bias[c]);
  } else {
    for (int c = 0; c < C; ++c) r[c] = x[c] + y[c];
  }
}

}  // namespace tessera::ops::cpu
