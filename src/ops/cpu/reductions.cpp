// Reductions over flat buffers (gradient norm, NaN checks), deterministic for any thread count: the buffer is cut
// into chunks whose size depends on n only, each chunk is summed in order, and the chunk sums are added in order.
#include <algorithm>
#include <array>
#include <cmath>

#include "ops/ops.hpp"

namespace tessera::ops {
namespace {
constexpr int64_t kMaxChunks = 4096;
constexpr int64_t kMinChunk = 1 << 14;
}  // namespace

template <typename T>
double sum_squares(const T* x, int64_t n) {
  const int64_t chunk = std::max(kMinChunk, (n + kMaxChunks - 1) / kMaxChunks);
  const int64_t chunks = (n + chunk - 1) / chunk;
  std::array<double, kMaxChunks> partial{};  // on the stack: no allocation inside a step
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0;
    const int64_t end = std::min(n, (c + 1) * chunk);
    for (int64_t i = c * chunk; i < end; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    partial[static_cast<size_t>(c)] = s;
  }
  double total = 0;
  for (int64_t c = 0; c < chunks; ++c) total += partial[static_cast<size_t>(c)];
  return total;
}

template <typename T>
void sum_squares_to(double* out, const T* x, int64_t n) {
  *out += sum_squares(x, n);
}

template <typename T>
void scale(T* x, T factor, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= factor;
}

template <typename T>
bool has_nonfinite(const T* x, int64_t n) {
  bool bad = false;
#pragma omp parallel for reduction(|| : bad) schedule(static)
  for (int64_t i = 0; i < n; ++i) bad = bad || !std::isfinite(x[i]);
  return bad;
}

template double sum_squares<float>(const float*, int64_t);
template double sum_squares<double>(const double*, int64_t);
template void sum_squares_to<float>(double*, const float*, int64_t);
template void sum_squares_to<double>(double*, const double*, int64_t);
template void scale<float>(float*, float, int64_t);
template void scale<double>(double*, double, int64_t);
template bool has_nonfinite<float>(const float*, int64_t);
template bool has_nonfinite<double>(const double*, int64_t);

}  // namespace tessera::ops
