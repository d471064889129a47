// A watchdog for the training loop: if a rank makes no progress for too long (a stopped or dead peer leaves it
// waiting in a collective forever), it ends the whole job with one line naming the step, the phase it was stuck in
// and the rank, instead of hanging until the scheduler's time limit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace tessera {

class Watchdog {
 public:
  // timeout_s <= 0: no watchdog. rank: for the message. The job is ended by exiting this process (status 1) from the
  // watchdog's thread; the MPI launcher then ends the other ranks.
  Watchdog(double timeout_s, int rank);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Progress: the clock restarts and the phase (a string literal) is what a timeout would name.
  void enter(int64_t step, const char* phase);
  // The allowed time, raised as steps turn out slow (20 times the median step, at least timeout_s).
  void observe_step(double seconds);
  double timeout() const { return timeout_.load(); }

 private:
  void watch();
  std::atomic<double> timeout_;
  int rank_;
  std::atomic<int64_t> last_ns_;
  std::atomic<int64_t> step_{0};
  std::atomic<const char*> phase_{"start-up"};
  std::vector<double> step_seconds_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace tessera
