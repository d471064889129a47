#include "train/compute_threads.hpp"

#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

#include "core/blas.hpp"
#include "parallel/parallel_state.hpp"

namespace tessera {
namespace {
int cores() {
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}
// The cores this process may run on: mpirun binds each rank to one core when it starts one or two of them.
int allowed_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return cores();
  return std::max(1, CPU_COUNT(&set));
}
}  // namespace

int set_compute_threads(int threads, std::string* note) {
  if (threads == 0) {
    // the processes of the job on this machine share its cores (also when a run uses a subgroup of the job), and
    // a rank uses no more threads than the cores it is bound to
    const int share = std::max(1, cores() / job_ranks_on_this_node());
    threads = std::min(share, allowed_cores());
    if (note != nullptr && threads < share)
      *note = fmt::format(
          "this rank is bound to {} of the {} cores it could use (mpirun binds ranks to cores; mpirun --bind-to none "
          "lets the threads spread)",
          threads, share);
  }
  omp_set_num_threads(threads);
  set_blas_threads(threads);
  return threads;
}

}  // namespace tessera
