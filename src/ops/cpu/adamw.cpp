// AdamW update over one tensor (or any contiguous range of the flat buffers).
#include <cmath>

#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void adamw_update(T* param, const T* grad, T* m, T* v, int64_t n, const AdamWParams& p) {
  const T b1 = p.beta1;
  const T b2 = p.beta2;
  const T c1 = T(1) / (T(1) - static_cast<T>(std::pow(static_cast<double>(p.beta1), static_cast<double>(p.t))));
  const T c2 = T(1) / (T(1) - static_cast<T>(std::pow(static_cast<double>(p.beta2), static_cast<double>(p.t))));
  const T lr = p.lr;
  const T eps = p.eps;
  const T wd = p.weight_decay;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const T g = grad[i];
    const T mi = b1 * m[i] + (T(1) - b1) * g;
    const T vi = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] -= lr * ((mi * c1) / (std::sqrt(vi * c2) + eps) + wd * param[i]);
  }
}

template void adamw_update<float>(float*, const float*, float*, float*, int64_t, const AdamWParams&);
template void adamw_update<double>(double*, const double*, double*, double*, int64_t, const AdamWParams&);

}  // namespace tessera::ops
