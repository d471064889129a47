// Multi-head attention with grouped-query heads, per (batch, head) through BLAS.
//
// For query head h of batch b (kv head g = h / (NH / NKV)):
//   S = q k^T / sqrt(HS)  (T, T);  P = softmax(S) over keys j <= i (causal) or all j;  y = P v  (T, HS)
// Backward:
//   dP = dy v^T;  dS = P * (dP - rowsum(P * dP));  dq = dS k / sqrt(HS);  dk += dS^T q / sqrt(HS);  dv += P^T dy
// The products inside run single-threaded BLAS (we are inside an OpenMP loop over heads).
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/blas.hpp"
#include "ops/cpu/fast_math.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

int64_t attention_scratch_size(int Tn) {
  return static_cast<int64_t>(Tn) * Tn;
}

template <typename T>
void attention_forward(T* out, T* probs, const T* qkv, int B, int Tn, int NH, int NKV, int HS, bool causal) {
  const int QKV = (NH + 2 * NKV) * HS;
  const int C = NH * HS;
  const int group = NH / NKV;
  const T scale = T(1) / std::sqrt(static_cast<T>(HS));
#pragma omp parallel for schedule(static)
  for (int bh = 0; bh < B * NH; ++bh) {
    const int b = bh / NH;
    const int h = bh % NH;
    const int g = h / group;
    const T* q = qkv + static_cast<int64_t>(b) * Tn * QKV + static_cast<int64_t>(h) * HS;  // (T, HS), ld QKV
    const T* k = qkv + static_cast<int64_t>(b) * Tn * QKV + static_cast<int64_t>(NH + g) * HS;
    const T* v = qkv + static_cast<int64_t>(b) * Tn * QKV + static_cast<int64_t>(NH + NKV + g) * HS;
    T* p = probs + static_cast<int64_t>(bh) * Tn * Tn;  // (T, T)
    gemm<T>(false, true, Tn, Tn, HS, scale, q, QKV, k, QKV, T(0), p, Tn);
    for (int i = 0; i < Tn; ++i) {
      T* row = p + static_cast<int64_t>(i) * Tn;
      const int n = causal ? i + 1 : Tn;  // keys that take part
      T mx = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : mx)
      for (int j = 0; j < n; ++j) mx = std::max(mx, row[j]);
      T sum = 0;
#pragma omp simd reduction(+ : sum)
      for (int j = 0; j < n; ++j) {
        row[j] = cpu::exp(row[j] - mx);
        sum += row[j];
      }
      const T inv = T(1) / sum;
#pragma omp simd
      for (int j = 0; j < n; ++j) row[j] *= inv;
      std::fill(row + n, row + Tn, T(0));
    }
    T* y = out + static_cast<int64_t>(b) * Tn * C + static_cast<int64_t>(h) * HS;  // (T, HS), ld C
    gemm<T>(false, false, Tn, HS, Tn, T(1), p, Tn, v, QKV, T(0), y, C);
  }
}

template <typename T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs, int B, int Tn, int NH, int NKV, int HS,
                        Context<T>& ctx) {
  const int QKV = (NH + 2 * NKV) * HS;
  const int C = NH * HS;
  const int group = NH / NKV;
  const T scale = T(1) / std::sqrt(static_cast<T>(HS));
  // One task per (batch, kv head): the query heads of a group add into the same dk and dv, in a fixed order.
#pragma omp parallel for schedule(static)
  for (int bg = 0; bg < B * NKV; ++bg) {
    const int b = bg / NKV;
    const int g = bg % NKV;
    T* ds = ctx.thread_scratch();  // (T, T): dP, then dS in place
    const int64_t base = static_cast<int64_t>(b) * Tn * QKV;
    const T* k = qkv + base + static_cast<int64_t>(NH + g) * HS;
    const T* v = qkv + base + static_cast<int64_t>(NH + NKV + g) * HS;
    T* dk = dqkv + base + static_cast<int64_t>(NH + g) * HS;
    T* dv = dqkv + base + static_cast<int64_t>(NH + NKV + g) * HS;
    for (int hg = 0; hg < group; ++hg) {
      const int h = g * group + hg;
      const T* q = qkv + base + static_cast<int64_t>(h) * HS;
      T* dq = dqkv + base + static_cast<int64_t>(h) * HS;
      const T* p = probs + (static_cast<int64_t>(b) * NH + h) * Tn * Tn;
      const T* dy = dout + static_cast<int64_t>(b) * Tn * C + static_cast<int64_t>(h) * HS;
      const T beta = hg == 0 ? T(0) : T(1);
      gemm<T>(false, true, Tn, Tn, HS, T(1), dy, C, v, QKV, T(0), ds, Tn);  // dP = dy v^T
      for (int i = 0; i < Tn; ++i) {
        const T* prow = p + static_cast<int64_t>(i) * Tn;
        T* drow = ds + static_cast<int64_t>(i) * Tn;
        T dot = 0;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < Tn; ++j) dot += prow[j] * drow[j];
#pragma omp simd
        for (int j = 0; j < Tn; ++j) drow[j] = prow[j] * (drow[j] - dot);  // masked keys have P = 0, so dS = 0
      }
      gemm<T>(false, false, Tn, HS, Tn, scale, ds, Tn, k, QKV, T(0), dq, QKV);  // dq = dS k
      gemm<T>(true, false, Tn, HS, Tn, scale, ds, Tn, q, QKV, beta, dk, QKV);   // dk += dS^T q
      gemm<T>(true, false, Tn, HS, Tn, T(1), p, Tn, dy, C, beta, dv, QKV);      // dv += P^T dy
    }
  }
}

template void attention_forward<float>(float*, float*, const float*, int, int, int, int, int, bool);
template void attention_forward<double>(double*, double*, const double*, int, int, int, int, int, bool);
template void attention_backward<float>(float*, const float*, const float*, const float*, int, int, int, int, int,
                                        Context<float>&);
template void attention_backward<double>(double*, const double*, const double*, const double*, int, int, int, int, int,
                                         Context<double>&);

}  // namespace tessera::ops
