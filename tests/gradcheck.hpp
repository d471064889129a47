// Central finite differences in double precision, for checking hand-written backward passes.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.hpp"

namespace tessera::testing {

inline std::vector<double> random_vector(size_t n, uint64_t seed, double scale = 1.0) {
  Rng rng(seed, 0);
  std::vector<double> v(n);
  for (auto& x : v) x = rng.normal() * scale;
  return v;
}

// Compares analytic[i] with (loss(x + eps e_i) - loss(x - eps e_i)) / 2 eps for the checked elements of x
// (all of them, or `max_checks` spread over x). loss() must read x.
inline void expect_gradient(const std::string& what, double* x, size_t n, const double* analytic,
                            const std::function<double()>& loss, double tol = 1e-6, size_t max_checks = 0,
                            double eps = 1e-5) {
  const size_t stride = max_checks == 0 || n <= max_checks ? 1 : n / max_checks;
  double worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < n; i += stride) {
    const double saved = x[i];
    x[i] = saved + eps;
    const double up = loss();
    x[i] = saved - eps;
    const double down = loss();
    x[i] = saved;
    const double numeric = (up - down) / (2 * eps);
    const double err = std::abs(numeric - analytic[i]) / std::max(1.0, std::abs(numeric) + std::abs(analytic[i]));
    if (err > worst) {
      worst = err;
      worst_i = i;
    }
  }
  EXPECT_LT(worst, tol) << what << ": worst relative error at element " << worst_i;
}

inline void expect_gradient(const std::string& what, std::vector<double>& x, const std::vector<double>& analytic,
                            const std::function<double()>& loss, double tol = 1e-6, size_t max_checks = 0) {
  ASSERT_EQ(x.size(), analytic.size()) << what;
  expect_gradient(what, x.data(), x.size(), analytic.data(), loss, tol, max_checks);
}

// sum_i out[i] * weights[i]: a scalar loss whose gradient with respect to out is `weights`.
inline double weighted_sum(const std::vector<double>& out, const std::vector<double>& weights) {
  double s = 0;
  for (size_t i = 0; i < out.size(); ++i) s += out[i] * weights[i];
  return s;
}

}  // namespace tessera::testing
