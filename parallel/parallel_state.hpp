// The process groups of one rank, built once in main from the world and a layout, and passed by reference.
// No global parallel state: tests build several of these in one process.
#pragma once

#include "parallel/process_group.hpp"
#include "parallel/rank_grid.hpp"

namespace tessera {

struct ParallelState {
  Layout layout;
  Coord coord;
  ProcessGroup world;
  ProcessGroup tp;
  ProcessGroup pp;
  ProcessGroup dp;
  ProcessGroup embedding;  // the first and last pipeline stage (the tied embedding's two copies); one rank otherwise
  // Device traffic as ranks sharing a GPU carry it, on every backend: groups of several ranks through the staged
  // communicator (comm_staged.hpp), groups of one through the device self communicator (comm_self_device.hpp). Lets
  // the CPU tests train through them (on the CPU the groups themselves carry host buffers otherwise).
  bool stage_device_traffic = false;

  // Collective over `base` (the job's world by default; MPI_COMM_SELF gives a single-rank run inside a multi-rank
  // job, as the parity tests need). Throws tessera::Error if the layout does not match base's size.
  static ParallelState create(const Layout& layout, MPI_Comm base = MPI_COMM_WORLD);
  bool is_main() const { return world.rank() == 0; }
};

// The processes of the whole job on this machine (collective over MPI_COMM_WORLD): they share its cores.
int job_ranks_on_this_node();

// MPI for the life of the process: initialised in the constructor, finalised in the destructor. Installs the
// abort hook, so that a failed check on any rank ends the whole job (MPI_Abort) with the rank in the message.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
  ~MpiRuntime();
  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ends every rank of the job with this exit code.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace tessera
