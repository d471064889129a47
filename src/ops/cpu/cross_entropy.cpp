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

// log-sum-exp of row[0, V) in one pass, in chunks that stay in L1: the running maximum rescales the running sum.
template <typename T>
T row_lse(const T* row, int V) {
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
  return mx + std::log(sum);
}

// In place: the row of logits becomes (softmax - onehot(target)) * dloss, zero on the padding.
template <typename T>
void row_dlogits(T* row, T lse, int32_t target, T dloss, int V, int Vp) {
  if (target < 0) {
    std::fill(row, row + Vp, T(0));
    return;
  }
#pragma omp simd
  for (int j = 0; j < V; ++j) row[j] = cpu::exp(row[j] - lse) * dloss;
  row[target] -= dloss;
  std::fill(row + V, row + Vp, T(0));
}

double sum_in_order(const float* x, int n) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += static_cast<double>(x[i]);
  return total;
}
double sum_in_order(const double* x, int n) {
  double total = 0;
  for (int i = 0; i < n; ++i) total += x[i];
  return total;
}

}  // namespace

template <typename T>
void cross_entropy_forward(T* losses, T* lse, const T* logits, const int32_t* targets, int N, int V, int Vp,
                           double* loss_sum) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const T* row = logits + static_cast<int64_t>(i) * Vp;
    lse[i] = row_lse(row, V);
    losses[i] = targets[i] >= 0 ? lse[i] - row[targets[i]] : T(0);
  }
  *loss_sum += sum_in_order(losses, N);
}

template <typename T>
void cross_entropy_backward(T* logits, const T* lse, const int32_t* targets, T dloss, int N, int V, int Vp) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) row_dlogits(logits + static_cast<int64_t>(i) * Vp, lse[i], targets[i], dloss, V, Vp);
}

template <typename T>
void cross_entropy_forward_backward(T* logits, T* losses, const int32_t* targets, T dloss, int N, int V, int Vp,
                                    double* loss_sum) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    T* row = logits + static_cast<int64_t>(i) * Vp;  // 200 KiB for GPT-2: still in L2 for the second pass
    const T lse = row_lse(row, V);
    losses[i] = targets[i] >= 0 ? lse - row[targets[i]] : T(0);
    row_dlogits(row, lse, targets[i], dloss, V, Vp);
  }
  *loss_sum += sum_in_order(losses, N);
}

template void cross_entropy_forward<float>(float*, float*, const float*, const int32_t*, int, int, int, double*);
template void cross_entropy_forward<double>(double*, double*, const double*, const int32_t*, int, int, int, double*);
template void cross_entropy_backward<float>(float*, const float*, const int32_t*, float, int, int, int);
template void cross_entropy_backward<double>(double*, const double*, const int32_t*, double, int, int, int);
template void cross_entropy_forward_backward<float>(float*, float*, const int32_t*, float, int, int, int, double*);
template void cross_entropy_forward_backward<double>(double*, double*, const int32_t*, double, int, int, int, double*);

}  // namespace tessera::ops
