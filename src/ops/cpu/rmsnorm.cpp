// RMSNorm (LLaMA family).
#include <cmath>

#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/norm_rows.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void rmsnorm_forward(T* out, T* rstd, const T* inp, const T* w, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const int64_t row = static_cast<int64_t>(i) * C;
    cpu::rmsnorm_row(out + row, rstd + i, inp + row, w, C, eps);
  }
}

// With g = dout * w:  dx = rstd * (g - x * rstd^2 * mean(g * x)).
template <typename T>
void rmsnorm_backward(T* dinp_accum, T* dw, const T* dout, const T* inp, const T* w, const T* rstd, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* x = inp + static_cast<int64_t>(i) * C;
    const T* d = dout + static_cast<int64_t>(i) * C;
    T* dx = dinp_accum + static_cast<int64_t>(i) * C;
    const T s = rstd[i];
    T gx_mean = 0;
    for (int c = 0; c < C; ++c) gx_mean += d[c] * w[c] * x[c];
    gx_mean /= C;
    for (int c = 0; c < C; ++c) dx[c] += s * (d[c] * w[c] - x[c] * s * s * gx_mean);
  }
  cpu::for_column_blocks(N, C, [&](int i, int c0, int c1) {
    const T* x = inp + static_cast<int64_t>(i) * C;
    const T* d = dout + static_cast<int64_t>(i) * C;
    for (int c = c0; c < c1; ++c) dw[c] += d[c] * x[c] * rstd[i];
  });
}

template void rmsnorm_forward<float>(float*, float*, const float*, const float*, int, int, float);
template void rmsnorm_forward<double>(double*, double*, const double*, const double*, int, int, float);
template void rmsnorm_backward<float>(float*, float*, const float*, const float*, const float*, const float*, int, int);
template void rmsnorm_backward<double>(double*, double*, const double*, const double*, const double*, const double*,
                                       int, int);

}  // namespace tessera::ops
