// What the trainer asks of a process group beyond collectives on buffers: the ranks on this machine, a barrier that
// waits asleep, and named counters summed in one all-reduce (run under mpirun with 2, 4 and 8 ranks, and alone).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "parallel/process_group.hpp"

namespace tessera {
namespace {

struct Votes {
  int64_t signalled = 0;
  int64_t errors = 0;
  int64_t writing = 0;
};

TEST(ProcessGroup, NodeLocalGroupHoldsEveryRankOfThisMachine) {
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  const ProcessGroup local = ProcessGroup::node_local(world);
  EXPECT_EQ(local.size(), world.size());  // mpirun on one machine
  EXPECT_EQ(local.rank(), world.rank());  // ordered as the parent
}

TEST(ProcessGroup, CountersAreSummedFieldByField) {
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  Votes v;
  v.signalled = world.rank() == 0 ? 1 : 0;
  v.errors = 2;
  v.writing = world.rank();
  world.all_reduce_counters(v);
  const int64_t n = world.size();
  EXPECT_EQ(v.signalled, 1);
  EXPECT_EQ(v.errors, 2 * n);
  EXPECT_EQ(v.writing, n * (n - 1) / 2);
}

TEST(ProcessGroup, BarrierAsleepWaitsForTheLastRank) {
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  const auto start = std::chrono::steady_clock::now();
  if (world.rank() == world.size() - 1) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  world.barrier_asleep(5);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (world.size() > 1) {
    EXPECT_GE(waited, 0.19);
  }
}

}  // namespace
}  // namespace tessera
