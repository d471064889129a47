// Softmax cross-entropy over the real vocabulary V of a padded logits row Vp: the padding columns never take part,
// so they can never win a softmax and receive zero gradient.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {
namespace {
constexpr int kChunk = 2048;  // logits per chunk of a row (8 KiB of floats)
}  // namespace

template <typename T>
double cross_entropy_forward(T* losses, T* lse, const T* logits, const int32_t* targets, int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* row = logits + static_cast<int64_t>(i) * Vp;
    // One pass over the row, in chunks that stay in L1: the running maximum rescales the running sum.
    T mx = -std::numeric_limits<T>::infinity();
    T sum = 0;
    for (int j0 = 0; j0 < V; j0 += kChunk) {
      const int j1 = std::min(V, j0 + kChunk);
      T chunk_max = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : chunk_max)
      for (int j = j0; j < j1; ++j) chunk_max = std::max(chunk_max, row[j]);
      if (chunk_max > mx) {
        sum = sum == T(0) ? T(0) : sum * std::exp(mx - chunk_max);
        mx = chunk_max;
      }
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int j = j0; j < j1; ++j) s += cpu::exp(row[j] - mx);
      sum += s;
    }
    // sum >= 1: the maximum contributes exp(0) (V > 0 is checked by the model config)
    // cppcheck-suppress invalidFunctionArg
    lse[i] = mx + std::log(sum);
    losses[i] = targets[i] >= 0 ? lse[i] - row[targets[i]] : T(0);
  }
  double total = 0;
  for (int i = 0; i < N; ++i) total += static_cast<double>(losses[i]);
  return total;
}

template <typename T>
void cross_entropy_backward(T* logits, const T* lse, const int32_t* targets, T dloss, int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    T* row = logits + static_cast<int64_t>(i) * Vp;
    if (targets[i] < 0) {
      std::fill(row, row + Vp, T(0));
      continue;
    }
    const T l = lse[i];
#pragma omp simd
    for (int j = 0; j < V; ++j) row[j] = cpu::exp(row[j] - l) * dloss;
    row[targets[i]] -= dloss;
    std::fill(row + V, row + Vp, T(0));
  }
}

template double cross_entropy_forward<float>(float*, float*, const float*, const int32_t*, int, int, int);
template double cross_entropy_forward<double>(double*, double*, const double*, const int32_t*, int, int, int);
template void cross_entropy_backward<float>(float*, const float*, const int32_t*, float, int, int, int);
template void cross_entropy_backward<double>(double*, const double*, const int32_t*, double, int, int, int);

}  // namespace tessera::ops
