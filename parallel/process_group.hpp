// A process group: a set of ranks and its communicator (MPI on CPUs; NCCL joins it on GPUs). RAII, move-only,
// passed explicitly. A group of one is the single-rank path: every collective returns at once.
//
// ProcessGroup implements the core's Communicator, the only face of it that model code sees.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <mpi.h>

#include "core/communicator.hpp"

namespace tessera {

class ProcessGroup final : public Communicator {
 public:
  // A group over an existing communicator that the caller keeps (MPI_COMM_SELF: a world of one).
  static ProcessGroup borrow(MPI_Comm comm);
  // The group of these ranks of `parent`, created collectively by every rank of `parent` (each rank passes its own
  // list; ranks with the same list end up in the same group).
  static ProcessGroup split(const ProcessGroup& parent, const std::vector<int>& parent_ranks);
  // The ranks of `parent` on this machine (they share its memory), created collectively by every rank of `parent`.
  static ProcessGroup node_local(const ProcessGroup& parent);

  ProcessGroup(ProcessGroup&& other) noexcept;
  ProcessGroup& operator=(ProcessGroup&& other) noexcept;
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MPI_Comm comm() const { return comm_; }

  void all_reduce(float* data, int64_t n, ReduceOp op) const override;
  void all_reduce(double* data, int64_t n, ReduceOp op) const override;
  void all_gather(const float* send, float* recv, int64_t n) const override;
  void all_gather(const double* send, double* recv, int64_t n) const override;
  void reduce_scatter(const float* send, float* recv, int64_t n) const override;
  void reduce_scatter(const double* send, double* recv, int64_t n) const override;
  void send(const float* data, int64_t n, int peer) const override;
  void recv(float* data, int64_t n, int peer) const override;
  Request start_all_reduce(float* data, int64_t n) const override;
  Request start_reduce_scatter(const float* send, float* recv, const int* counts) const override;
  void all_gather_in_place(float* data, const int* counts) const override;
  Request start_send(const float* data, int64_t n, int peer, int tag) const override;
  Request start_recv(float* data, int64_t n, int peer, int tag) const override;
  void wait(Request& request) const override;
  bool test(Request& request) const override;

  using Communicator::all_reduce_sum;
  void all_reduce_sum(int64_t* data, int64_t n) const;
  void broadcast(void* data, int64_t bytes, int root) const;
  // Every rank's vector at `root`, in rank order (other ranks get an empty result). Any length (sent in pieces).
  std::vector<std::vector<int32_t>> gather(const std::vector<int32_t>& local, int root) const;
  void barrier() const;
  // Point-to-point as NCCL has it (ordered_p2p(): tags ignored), for the tests that run the GPU's message order on
  // the CPU. Off by default.
  void set_ordered_p2p(bool ordered) { ordered_ = ordered; }
  bool ordered_p2p() const override { return ordered_; }
  // A barrier that waits asleep, polling every `poll_ms` (a blocking barrier spins on the cores it waits on: one
  // rank's measurement of the machine would be slowed by its peers).
  void barrier_asleep(int poll_ms = 20) const;

  // Sums a struct of int64_t counters (named fields, no other member) over the group in one all-reduce.
  template <typename Counters>
  void all_reduce_counters(Counters& counters) const {
    static_assert(std::is_trivially_copyable_v<Counters> && sizeof(Counters) % sizeof(int64_t) == 0,
                  "a struct of int64_t counters");
    auto values = std::bit_cast<std::array<int64_t, sizeof(Counters) / sizeof(int64_t)>>(counters);
    all_reduce_sum(values.data(), static_cast<int64_t>(values.size()));
    counters = std::bit_cast<Counters>(values);
  }

 private:
  ProcessGroup(MPI_Comm comm, bool owned);
  Request take_slot(MPI_Request request) const;
  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owned_ = false;
  int rank_ = 0;
  int size_ = 1;
  bool ordered_ = false;
  // handles of non-blocking operations in flight, by slot, and the free slots
  mutable std::vector<MPI_Request> requests_;
  mutable std::vector<int> free_slots_;
  mutable std::vector<int> displs_;  // of an all-gather with counts, sized once
};

}  // namespace tessera
