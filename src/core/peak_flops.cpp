#include "core/peak_flops.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/blas.hpp"

namespace tessera {

double measure_sgemm_flops(int n, double seconds) {
  const auto size = static_cast<size_t>(n) * static_cast<size_t>(n);
  std::vector<float> a(size, 0.5F), b(size, 0.25F), c(size, 0.0F);
  using clock = std::chrono::steady_clock;
  gemm<float>(false, false, n, n, n, 1.0F, a.data(), n, b.data(), n, 0.0F, c.data(), n);  // warm-up
  std::vector<double> rates;
  const auto start = clock::now();
  while (rates.size() < 5 || std::chrono::duration<double>(clock::now() - start).count() < seconds) {
    const auto t0 = clock::now();
    gemm<float>(false, false, n, n, n, 1.0F, a.data(), n, b.data(), n, 0.0F, c.data(), n);
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    rates.push_back(2.0 * n * static_cast<double>(n) * n / dt);
  }
  // the median: the rate the machine sustains, not its luckiest burst
  std::nth_element(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2), rates.end());
  return rates[rates.size() / 2];
}

}  // namespace tessera
