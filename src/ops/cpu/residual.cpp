// The residual add after a linear layer whose output was reduced across tensor-parallel ranks.
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void residual_forward(T* out, const T* x, const T* y, const T* bias, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const int64_t row = static_cast<int64_t>(i) * C;
    if (bias != nullptr) {
      for (int c = 0; c < C; ++c) out[row + c] = x[row + c] + (y[row + c] + bias[c]);
    } else {
      for (int c = 0; c < C; ++c) out[row + c] = x[row + c] + y[row + c];
    }
  }
}

template void residual_forward<float>(float*, const float*, const float*, const float*, int, int);
template void residual_forward<double>(double*, const double*, const double*, const double*, int, int);

}  // namespace tessera::ops
