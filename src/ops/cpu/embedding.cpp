// Token and learned position embedding.
#include <algorithm>

#include "ops/cpu/column_sums.hpp"
#include "ops/ops.hpp"

namespace tessera::ops {

template <typename T>
void embedding_forward(T* out, const int32_t* tokens, const T* wte, const T* wpe, int B, int Tn, int C, int v0,
                       int Vn) {
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < static_cast<int64_t>(B) * Tn; ++bt) {
    const int t = static_cast<int>(bt % Tn);
    T* o = out + bt * C;  // (C)
    const int64_t row = tokens[bt] - v0;
    if (row < 0 || row >= Vn) {  // another rank's row: this rank adds zero (the position, if it adds it)
      if (wpe != nullptr) {
        std::copy(wpe + static_cast<int64_t>(t) * C, wpe + static_cast<int64_t>(t + 1) * C, o);
      } else {
        std::fill(o, o + C, T(0));
      }
      continue;
    }
    const T* e = wte + row * C;  // (C)
    if (wpe != nullptr) {
      const T* p = wpe + static_cast<int64_t>(t) * C;
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    } else {
      std::copy(e, e + C, o);
    }
  }
}

template <typename T>
void embedding_backward(T* dwte, T* dwpe, const T* dout, const int32_t* tokens, int B, int Tn, int C, int v0, int Vn) {
  // Several positions may hold the same token: each thread owns a block of channels and walks the tokens in order,
  // so every sum has one fixed order whatever the thread count.
  cpu::for_column_blocks(B * Tn, C, [&](int bt, int c0, int c1) {
    const int64_t row = tokens[bt] - v0;
    if (row < 0 || row >= Vn) return;  // another rank's row
    T* dw = dwte + row * C;
    const T* d = dout + static_cast<int64_t>(bt) * C;
    for (int c = c0; c < c1; ++c) dw[c] += d[c];
  });
  if (dwpe == nullptr) return;
#pragma omp parallel for schedule(static)
  for (int t = 0; t < Tn; ++t) {
    T* dp = dwpe + static_cast<int64_t>(t) * C;
    for (int b = 0; b < B; ++b) {
      const T* d = dout + (static_cast<int64_t>(b) * Tn + t) * C;
      for (int c = 0; c < C; ++c) dp[c] += d[c];
    }
  }
}

template void embedding_forward<float>(float*, const int32_t*, const float*, const float*, int, int, int, int, int);
template void embedding_forward<double>(double*, const int32_t*, const double*, const double*, int, int, int, int, int);
template void embedding_backward<float>(float*, float*, const float*, const int32_t*, int, int, int, int, int);
template void embedding_backward<double>(double*, double*, const double*, const int32_t*, int, int, int, int, int);

}  // namespace tessera::ops
