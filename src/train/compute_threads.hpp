// How many threads a rank computes with: the cores of its machine shared among the job's ranks on it.
#pragma once

#include <string>

namespace tessera {

// Sets OpenMP's and OpenBLAS's thread count (0: the cores of this machine divided among the job's ranks on it, at
// most the cores this process is bound to; note, if given, says so when the binding lowered the count).
// Collective over MPI_COMM_WORLD when threads is 0.
int set_compute_threads(int threads, std::string* note = nullptr);

}  // namespace tessera
