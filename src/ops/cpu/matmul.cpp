// Linear layer through BLAS: out = inp @ w^T + bias, w stored (OC, IC) as in torch.nn.Linear.
#include <algorithm>

#include "core/blas.hpp"
#include "ops/cpu/column_sums.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void matmul_forward(T* out, const T* inp, const T* w, const T* bias, int N, int IC, int OC, bool accumulate) {
  T beta = accumulate ? T(1) : T(0);
  if (bias != nullptr) {
    // the bias goes into out first, so the product adds onto it (beta = 1)
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; ++i) {
      T* o = out + static_cast<int64_t>(i) * OC;
      if (accumulate) {
        for (int c = 0; c < OC; ++c) o[c] += bias[c];
      } else {
        std::copy(bias, bias + OC, o);
      }
    }
    beta = T(1);
  }
  // (N, OC) = (N, IC) @ (OC, IC)^T
  gemm<T>(false, true, N, OC, IC, T(1), inp, IC, w, IC, beta, out, OC);
}

template <typename T>
void matmul_backward(T* dinp, T* dw, T* dbias, const T* dout, const T* inp, const T* w, int N, int IC, int OC) {
  // dinp (N, IC) = dout (N, OC) @ w (OC, IC)
  if (dinp != nullptr) gemm<T>(false, false, N, IC, OC, T(1), dout, OC, w, IC, T(0), dinp, IC);
  // dw (OC, IC) += dout^T (OC, N) @ inp (N, IC)
  gemm<T>(true, false, OC, IC, N, T(1), dout, OC, inp, IC, T(1), dw, IC);
  if (dbias != nullptr) {
    cpu::for_column_blocks(N, OC, [&](int i, int c0, int c1) {
      const T* d = dout + static_cast<int64_t>(i) * OC;
      for (int c = c0; c < c1; ++c) dbias[c] += d[c];
    });
  }
}

template void matmul_forward<float>(float*, const float*, const float*, const float*, int, int, int, bool);
template void matmul_forward<double>(double*, const double*, const double*, const double*, int, int, int, bool);
template void matmul_backward<float>(float*, float*, float*, const float*, const float*, const float*, int, int, int);
template void matmul_backward<double>(double*, double*, double*, const double*, const double*, const double*, int, int,
                                      int);

}  // namespace tessera::ops
