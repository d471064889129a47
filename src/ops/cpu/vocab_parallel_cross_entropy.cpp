// Vocab-parallel softmax cross-entropy (Megatron's): the pieces a tensor-parallel rank computes on its slice of the
// vocabulary; the model combines them with two all-reduces (see ops.hpp). On one rank cross_entropy.cpp's fused op
// does the same in one pass.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void vocab_parallel_max(T* rowmax, const T* logits, int N, int Vn, int Vp_local) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* row = logits + static_cast<int64_t>(i) * Vp_local;
    T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < Vn; ++j) mx = std::max(mx, row[j]);
    rowmax[i] = mx;
  }
}

template <typename T>
void vocab_parallel_sum_exp(T* sums, const T* logits, const T* rowmax, const int32_t* targets, int N, int v0, int Vn,
                            int Vp_local) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* row = logits + static_cast<int64_t>(i) * Vp_local;
    const T mx = rowmax[i];
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < Vn; ++j) s += cpu::exp(row[j] - mx);
    const int64_t t = static_cast<int64_t>(targets[i]) - v0;
    sums[2 * i] = s;
    sums[2 * i + 1] = targets[i] >= 0 && t >= 0 && t < Vn ? row[t] : T(0);
  }
}

template <typename T>
void vocab_parallel_loss(T* losses, T* lse, const T* sums, const int32_t* targets, int N, double* loss_sum) {
  double total = 0;
  for (int i = 0; i < N; ++i) {
    lse[i] += std::log(sums[2 * i]);
    losses[i] = targets[i] >= 0 ? lse[i] - sums[2 * i + 1] : T(0);
    total += static_cast<double>(losses[i]);
  }
  *loss_sum += total;
}

template <typename T>
void vocab_parallel_backward(T* logits, const T* lse, const int32_t* targets, T dloss, int N, int v0, int Vn,
                             int Vp_local) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    T* row = logits + static_cast<int64_t>(i) * Vp_local;
    if (targets[i] < 0) {
      std::fill(row, row + Vp_local, T(0));
      continue;
    }
    const T l = lse[i];
#pragma omp simd
    for (int j = 0; j < Vn; ++j) row[j] = cpu::exp(row[j] - l) * dloss;
    std::fill(row + Vn, row + Vp_local, T(0));
    const int64_t t = static_cast<int64_t>(targets[i]) - v0;
    if (t >= 0 && t < Vn) row[t] -= dloss;
  }
}

template void vocab_parallel_max<float>(float*, const float*, int, int, int);
template void vocab_parallel_max<double>(double*, const double*, int, int, int);
template void vocab_parallel_sum_exp<float>(float*, const float*, const float*, const int32_t*, int, int, int, int);
template void vocab_parallel_sum_exp<double>(double*, const double*, const double*, const int32_t*, int, int, int, int);
template void vocab_parallel_loss<float>(float*, float*, const float*, const int32_t*, int, double*);
template void vocab_parallel_loss<double>(double*, double*, const double*, const int32_t*, int, double*);
template void vocab_parallel_backward<float>(float*, const float*, const int32_t*, float, int, int, int, int);
template void vocab_parallel_backward<double>(double*, const double*, const int32_t*, double, int, int, int, int);

}  // namespace tessera::ops
