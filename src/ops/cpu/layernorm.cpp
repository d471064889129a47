// LayerNorm (GPT-2 family).
#include <cmath>

#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/norm_rows.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void layernorm_forward(T* out, T* mean, T* rstd, const T* inp, const T* w, const T* b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const int64_t row = static_cast<int64_t>(i) * C;
    cpu::layernorm_row(out + row, mean + i, rstd + i, inp + row, w, b, C, eps);
  }
}

// With n = (x - mean) * rstd and g = dout * w:  dx = rstd * (g - mean(g) - n * mean(g * n)).
template <typename T>
void layernorm_backward(T* dinp_accum, T* dw, T* db, const T* dout, const T* inp, const T* w, const T* mean,
                        const T* rstd, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* x = inp + static_cast<int64_t>(i) * C;
    const T* d = dout + static_cast<int64_t>(i) * C;
    T* dx = dinp_accum + static_cast<int64_t>(i) * C;
    const T m = mean[i];
    const T s = rstd[i];
    T g_mean = 0;
    T gn_mean = 0;
    for (int c = 0; c < C; ++c) {
      const T g = d[c] * w[c];
      g_mean += g;
      gn_mean += g * (x[c] - m) * s;
    }
    g_mean /= C;
    gn_mean /= C;
    for (int c = 0; c < C; ++c) dx[c] += s * (d[c] * w[c] - g_mean - (x[c] - m) * s * gn_mean);
  }
  cpu::for_column_blocks(N, C, [&](int i, int c0, int c1) {
    const T* x = inp + static_cast<int64_t>(i) * C;
    const T* d = dout + static_cast<int64_t>(i) * C;
    for (int c = c0; c < c1; ++c) {
      dw[c] += d[c] * (x[c] - mean[i]) * rstd[i];
      if (db != nullptr) db[c] += d[c];
    }
  });
}

template void layernorm_forward<float>(float*, float*, float*, const float*, const float*, const float*, int, int,
                                       float);
template void layernorm_forward<double>(double*, double*, double*, const double*, const double*, const double*, int,
                                        int, float);
template void layernorm_backward<float>(float*, float*, float*, const float*, const float*, const float*, const float*,
                                        const float*, int, int);
template void layernorm_backward<double>(double*, double*, double*, const double*, const double*, const double*,
                                         const double*, const double*, int, int);

}  // namespace tessera::ops
