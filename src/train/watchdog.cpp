#include "train/watchdog.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace tessera {

namespace {
int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Watchdog::Watchdog(double timeout_s, int rank) : timeout_(timeout_s), rank_(rank), last_ns_(now_ns()) {
  if (timeout_s > 0) thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Watchdog::enter(int64_t step, const char* phase) {
  step_ = step;
  phase_ = phase;
  last_ns_ = now_ns();
}

void Watchdog::observe_step(double seconds) {
  step_seconds_.push_back(seconds);
  if (step_seconds_.size() % 16 != 1) return;  // the median now and then is enough
  std::vector<double> s = step_seconds_;
  std::nth_element(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(s.size() / 2), s.end());
  timeout_ = std::max(timeout_.load(), 20 * s[s.size() / 2]);
}

void Watchdog::watch() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(250));
    if (stop_) break;
    const double idle = static_cast<double>(now_ns() - last_ns_.load()) / 1e9;
    if (idle < timeout_.load()) continue;
    std::fprintf(stderr,
                 "[rank %d] error: watchdog: no progress for %.0f s at step %lld, in %s (parallel.timeout_s = %.0f); "
                 "a rank of the job is stuck, stopped or dead: ending the job\n",
                 rank_, idle, static_cast<long long>(step_.load()), phase_.load(), timeout_.load());
    std::fflush(stderr);
    std::_Exit(1);  // from this thread MPI may not be called; the launcher ends the other ranks
  }
}

}  // namespace tessera
