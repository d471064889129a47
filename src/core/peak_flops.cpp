#include "core/peak_flops.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/blas.hpp"
#include "core/readable.hpp"

namespace tessera {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

void sgemm(int n, const std::vector<float>& a, const std::vector<float>& b, std::vector<float>& c) {
  gemm<float>(false, false, n, n, n, 1.0F, a.data(), n, b.data(), n, 0.0F, c.data(), n);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

nlohmann::json read_cache(const std::string& path) {
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    return j.is_object() ? j : nlohmann::json::object();
  } catch (const nlohmann::json::exception&) {
    return nlohmann::json::object();  // a damaged cache is measured again and rewritten
  }
}

// Written to a temporary file and renamed, so that concurrent runs never read half a file.
bool write_cache(const std::string& path, const nlohmann::json& j) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = fmt::format("{}.tmp-{}", path, getpid());
  {
    std::ofstream out(tmp);
    out << j.dump(2) << "\n";
    if (!out) return false;
  }
  fs::rename(tmp, path, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

}  // namespace

double measure_sgemm_flops(int n, double seconds) {
  const auto size = static_cast<size_t>(n) * static_cast<size_t>(n);
  std::vector<float> a(size, 0.5F), b(size, 0.25F), c(size, 0.0F);
  sgemm(n, a, b, c);  // warm-up
  std::vector<double> rates;
  const auto start = Clock::now();
  while (rates.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const auto t0 = Clock::now();
    sgemm(n, a, b, c);
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    rates.push_back(2.0 * n * static_cast<double>(n) * n / dt);
  }
  // the median: the rate the machine sustains, not its luckiest burst
  std::nth_element(rates.begin(), rates.begin() + static_cast<std::ptrdiff_t>(rates.size() / 2), rates.end());
  return rates[rates.size() / 2];
}

double best_sgemm_flops(int trials, double seconds, int n) {
  const auto size = static_cast<size_t>(n) * static_cast<size_t>(n);
  std::vector<float> a(size, 0.5F), b(size, 0.25F), c(size, 0.0F);
  sgemm(n, a, b, c);  // warm-up: pages touched, threads started
  const double flops_per_call = 2.0 * n * static_cast<double>(n) * n;
  double best = 0;
  for (int t = 0; t < trials; ++t) {
    int calls = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    while (calls < 3 || elapsed < seconds) {
      sgemm(n, a, b, c);
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    }
    best = std::max(best, flops_per_call * calls / elapsed);
  }
  return best;
}

std::string peak_cache_path() {
  if (const char* d = std::getenv("TESSERA_CACHE_DIR"); d != nullptr && *d != '\0')
    return (fs::path(d) / "peak_flops.json").string();
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0')
    return (fs::path(x) / "tessera" / "peak_flops.json").string();
  const char* home = std::getenv("HOME");
  return (fs::path(home != nullptr ? home : "/tmp") / ".cache" / "tessera" / "peak_flops.json").string();
}

namespace {
int all_cores(int threads) {
  return threads > 0 ? threads : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}
std::string peak_key(int threads) {
  return fmt::format("{} | {} threads | OpenBLAS {}", cpu_model(), threads, blas_core_name());
}
}  // namespace

void raise_machine_peak(int threads, double flops) {
  threads = all_cores(threads);
  const std::string path = peak_cache_path();
  nlohmann::json cache = read_cache(path);
  const std::string key = peak_key(threads);
  if (cache.contains(key) && cache[key].value("flops", 0.0) >= flops) return;
  cache[key] = {{"flops", flops}, {"measured_at", utc_timestamp()}, {"from", "a training run"}};
  if (!write_cache(path, cache)) std::fprintf(stderr, "warning: cannot write the peak FLOP/s cache %s\n", path.c_str());
}

PeakFlops machine_peak_flops(int threads, bool refresh) {
  threads = all_cores(threads);
  PeakFlops peak;
  peak.key = peak_key(threads);
  const std::string path = peak_cache_path();
  nlohmann::json cache = read_cache(path);
  if (!refresh && cache.contains(peak.key) && cache[peak.key].value("flops", 0.0) > 0) {
    peak.flops = cache[peak.key]["flops"].get<double>();
    peak.measured_at = cache[peak.key].value("measured_at", "");
    peak.from_cache = true;
    return peak;
  }
  const int saved = blas_threads();
  set_blas_threads(threads);
  peak.flops = best_sgemm_flops();
  set_blas_threads(saved);
  peak.measured_at = utc_timestamp();
  cache = read_cache(path);  // another run may have written meanwhile
  cache[peak.key] = {{"flops", peak.flops}, {"measured_at", peak.measured_at}};
  if (!write_cache(path, cache))
    std::fprintf(stderr, "warning: cannot write the peak FLOP/s cache %s; it will be measured again\n", path.c_str());
  return peak;
}

}  // namespace tessera
