// The communicator against raw MPI on the same buffers: all-reduce, all-gather and reduce-scatter bandwidth
// (algorithm bandwidth: bytes of the full buffer per second), median of the timed repetitions. Run under mpirun;
// rank 0 prints one table row per operation and size. Never fails.
//
//   mpirun -np 2 bench_comm [--reps 20]
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "parallel/process_group.hpp"

namespace {

double median_seconds(int reps, MPI_Comm comm, const std::function<void()>& op) {
  std::vector<double> t;
  op();  // warm-up
  for (int i = 0; i < reps; ++i) {
    MPI_Barrier(comm);
    const auto t0 = std::chrono::steady_clock::now();
    op();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  double slowest = t[t.size() / 2];
  MPI_Allreduce(MPI_IN_PLACE, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm);  // the slowest rank's median
  return slowest;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == "--reps") reps = std::atoi(argv[i + 1]);
  const tessera::ProcessGroup group = tessera::ProcessGroup::borrow(MPI_COMM_WORLD);
  const int n_ranks = group.size(), rank = group.rank();
  for (const int64_t mb : {1, 16, 64}) {
    const int64_t n = mb * 1024 * 1024 / 4 / n_ranks * n_ranks;  // floats, a multiple of the ranks
    const int64_t part = n / n_ranks;
    std::vector<float> a(static_cast<size_t>(n), 1.0F), out(static_cast<size_t>(part));
    const double bytes = static_cast<double>(n) * 4;
    struct Row {
      const char* op;
      std::function<void()> raw, ours;
    };
    const Row rows[] = {
        {"all-reduce",
         [&] { MPI_Allreduce(MPI_IN_PLACE, a.data(), static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); },
         [&] { group.all_reduce_sum(a.data(), n); }},
        {"all-gather",
         [&] {
           MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, a.data(), static_cast<int>(part), MPI_FLOAT,
                         MPI_COMM_WORLD);
         },
         [&] { group.all_gather(a.data() + rank * part, a.data(), part); }},
        {"reduce-scatter",
         [&] {
           MPI_Reduce_scatter_block(a.data(), out.data(), static_cast<int>(part), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
         },
         [&] { group.reduce_scatter(a.data(), out.data(), part); }},
    };
    for (const Row& r : rows) {
      std::fill(a.begin(), a.end(), 1.0F);
      const double raw = median_seconds(reps, MPI_COMM_WORLD, r.raw);
      std::fill(a.begin(), a.end(), 1.0F);
      const double ours = median_seconds(reps, MPI_COMM_WORLD, r.ours);
      if (rank == 0)
        std::printf("| %s | %d | %lld MiB | %.2f | %.2f | %.0f%% |\n", r.op, n_ranks, static_cast<long long>(mb),
                    bytes / raw / 1e9, bytes / ours / 1e9, 100 * raw / ours);
    }
  }
  MPI_Finalize();
  return 0;
}
