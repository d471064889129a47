// A process group: a set of ranks and its communicator (MPI on CPUs; NCCL joins it on GPUs). RAII, move-only,
// passed explicitly. A group of one is the single-rank path: every collective returns at once.
#pragma once

#include <cstdint>
#include <vector>

#include <mpi.h>

namespace tessera {

class ProcessGroup {
 public:
  // A group over an existing communicator that the caller keeps (MPI_COMM_SELF: a world of one).
  static ProcessGroup borrow(MPI_Comm comm);
  // The group of these ranks of `parent`, created collectively by every rank of `parent` (each rank passes its own
  // list; ranks with the same list end up in the same group).
  static ProcessGroup split(const ProcessGroup& parent, const std::vector<int>& parent_ranks);

  ProcessGroup(ProcessGroup&& other) noexcept;
  ProcessGroup& operator=(ProcessGroup&& other) noexcept;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup();

  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm comm() const { return comm_; }

  // In-place sums over the group.
  void all_reduce_sum(float* data, int64_t n) const;
  void all_reduce_sum(double* data, int64_t n) const;
  void all_reduce_sum(int64_t* data, int64_t n) const;
  void broadcast(void* data, int64_t bytes, int root) const;
  // Every rank's vector at `root`, in rank order (other ranks get an empty result). Any length (sent in pieces).
  std::vector<std::vector<int32_t>> gather(const std::vector<int32_t>& local, int root) const;
  void barrier() const;

 private:
  ProcessGroup(MPI_Comm comm, bool owned);
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace tessera
