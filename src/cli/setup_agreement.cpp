#include <mpi.h>

#include <cstdio>

#include "cli/commands.hpp"
#include "core/check.hpp"

namespace tessera::cli {

void agree_on_setup(const MpiRuntime& mpi, const std::function<void()>& setup) {
  std::string message;
  try {
    setup();
  } catch (const Error& e) {
    message = e.what();
  }
  // the lowest failing rank, or the world size when every rank succeeded
  int mine = message.empty() ? mpi.size() : mpi.rank();
  int first = mine;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == mpi.size()) return;
  if (mpi.rank() == first) {
    if (first == 0) {
      std::fprintf(stderr, "error: %s\n", message.c_str());
    } else {
      std::fprintf(stderr, "[rank %d] error: %s\n", first, message.c_str());
    }
    std::fflush(stderr);
  }
  throw Exit{2};
}

}  // namespace tessera::cli
