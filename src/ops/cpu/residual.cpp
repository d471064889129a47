// The residual add after a linear layer whose output was reduced across tensor-parallel ranks, alone and fused with
// the norm that reads it.
#include "ops/cpu/norm_rows.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void residual_forward(T* out, const T* x, const T* y, const T* bias, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const int64_t row = static_cast<int64_t>(i) * C;
    cpu::residual_row(out + row, x + row, y + row, bias, C);
  }
}

template <typename T>
void residual_layernorm_forward(T* res, T* out, T* mean, T* rstd, const T* x, const T* y, const T* bias, const T* w,
                                const T* b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {  // the row of res is still in L1 when the norm reads it
    const int64_t row = static_cast<int64_t>(i) * C;
    cpu::residual_row(res + row, x + row, y + row, bias, C);
    cpu::layernorm_row(out + row, mean + i, rstd + i, res + row, w, b, C, eps);
  }
}

template <typename T>
void residual_rmsnorm_forward(T* res, T* out, T* rstd, const T* x, const T* y, const T* bias, const T* w, int N, int C,
                              float eps) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const int64_t row = static_cast<int64_t>(i) * C;
    cpu::residual_row(res + row, x + row, y + row, bias, C);
    cpu::rmsnorm_row(out + row, rstd + i, res + row, w, C, eps);
  }
}

template void residual_forward<float>(float*, const float*, const float*, const float*, int, int);
template void residual_forward<double>(double*, const double*, const double*, const double*, int, int);
template void residual_layernorm_forward<float>(float*, float*, float*, float*, const float*, const float*,
                                                const float*, const float*, const float*, int, int, float);
template void residual_layernorm_forward<double>(double*, double*, double*, double*, const double*, const double*,
                                                 const double*, const double*, const double*, int, int, float);
template void residual_rmsnorm_forward<float>(float*, float*, float*, const float*, const float*, const float*,
                                              const float*, int, int, float);
template void residual_rmsnorm_forward<double>(double*, double*, double*, const double*, const double*, const double*,
                                               const double*, int, int, float);

}  // namespace tessera::ops
