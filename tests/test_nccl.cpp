// The NCCL communicator against the MPI one (ProcessGroup) on the same data: every collective and point-to-point
// call of the Communicator interface, on GPU buffers. Run under mpirun with one GPU per rank; with fewer GPUs than
// ranks (or none, or a build without CUDA) each test reports "skipped: no GPU".
#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "backend/backend.hpp"
#include "parallel/comm_nccl.hpp"
#include "parallel/process_group.hpp"

namespace tessera {
namespace {

class Nccl : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = std::make_unique<ProcessGroup>(ProcessGroup::borrow(MPI_COMM_WORLD));
    const int gpus = cuda_device_count();
    if (gpus < world_->size()) {
      GTEST_SKIP() << "skipped: no GPU for each of the " << world_->size() << " ranks ("
                   << (gpus == 0 ? cuda_unavailable_reason() : std::to_string(gpus) + " visible") << ")";
    }
    gpu_ = make_cuda_backend(world_->rank());
    nccl_ = make_nccl_communicator(*world_, gpu_->stream());
  }
  void TearDown() override {
    nccl_.reset();
    gpu_.reset();
  }
  std::vector<float> random(int64_t n, uint32_t salt) const {
    std::mt19937 gen(static_cast<uint32_t>(world_->rank()) * 1000U + salt);
    std::normal_distribution<float> d;
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = d(gen);
    return v;
  }
  DeviceBuffer<float> up(const std::vector<float>& host) const {
    DeviceBuffer<float> b(*gpu_, static_cast<int64_t>(host.size()));
    b.upload(host.data());
    return b;
  }
  std::vector<float> down(const DeviceBuffer<float>& b) const {
    std::vector<float> host(static_cast<size_t>(b.size()));
    b.download(host.data());
    return host;
  }
  std::unique_ptr<ProcessGroup> world_;
  std::unique_ptr<Backend> gpu_;
  std::unique_ptr<Communicator> nccl_;
};

// Sums of the same floats in another order may differ in the last bit: compared to 1e-6 of the largest value.
void expect_close(const std::vector<float>& want, const std::vector<float>& got, const char* what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  float scale = 0;
  for (float x : want) scale = std::max(scale, std::abs(x));
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-6F * scale) << what << " at " << i;
}

TEST_F(Nccl, AllReduceSumAndMax) {
  for (const ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax}) {
    auto host = random(100'003, 1);
    auto dev = up(host);
    world_->all_reduce(host.data(), static_cast<int64_t>(host.size()), op);
    nccl_->all_reduce(dev.data(), dev.size(), op);
    expect_close(host, down(dev), op == ReduceOp::kSum ? "all_reduce sum" : "all_reduce max");
  }
  auto host = random(4097, 2);
  auto dev = up(host);
  world_->all_reduce_sum(host.data(), static_cast<int64_t>(host.size()));
  Request r = nccl_->start_all_reduce(dev.data(), dev.size());
  nccl_->wait(r);
  expect_close(host, down(dev), "start_all_reduce");
}

TEST_F(Nccl, GatherAndScatter) {
  const int P = world_->size();
  const int64_t n = 1001;
  auto mine = random(n, 3);
  std::vector<float> gathered(static_cast<size_t>(n * P));
  world_->all_gather(mine.data(), gathered.data(), n);
  auto d_mine = up(mine);
  DeviceBuffer<float> d_gathered(*gpu_, n * P);
  nccl_->all_gather(d_mine.data(), d_gathered.data(), n);
  expect_close(gathered, down(d_gathered), "all_gather");

  auto full = random(n * P, 4);
  std::vector<float> part(static_cast<size_t>(n));
  world_->reduce_scatter(full.data(), part.data(), n);
  auto d_full = up(full);
  DeviceBuffer<float> d_part(*gpu_, n);
  nccl_->reduce_scatter(d_full.data(), d_part.data(), n);
  expect_close(part, down(d_part), "reduce_scatter");

  std::vector<int> counts(static_cast<size_t>(P));
  for (int r = 0; r < P; ++r) counts[static_cast<size_t>(r)] = 300 + 17 * r;  // uneven, as ZeRO-1's ranges
  const int total = std::accumulate(counts.begin(), counts.end(), 0);
  auto blocks = random(total, 5);
  std::vector<float> mine_summed(static_cast<size_t>(counts[static_cast<size_t>(world_->rank())]));
  Request r1 = world_->start_reduce_scatter(blocks.data(), mine_summed.data(), counts.data());
  world_->wait(r1);
  auto d_blocks = up(blocks);
  DeviceBuffer<float> d_summed(*gpu_, static_cast<int64_t>(mine_summed.size()));
  Request r2 = nccl_->start_reduce_scatter(d_blocks.data(), d_summed.data(), counts.data());
  nccl_->wait(r2);
  expect_close(mine_summed, down(d_summed), "start_reduce_scatter with counts");

  auto in_place = random(total, 6);
  auto d_in_place = up(in_place);
  world_->all_gather_in_place(in_place.data(), counts.data());
  nccl_->all_gather_in_place(d_in_place.data(), counts.data());
  expect_close(in_place, down(d_in_place), "all_gather_in_place");
}

TEST_F(Nccl, SendRecvAroundTheRing) {
  const int P = world_->size();
  if (P == 1) GTEST_SKIP() << "one rank: no peer (run under mpirun -np 2 or more)";
  const int next = (world_->rank() + 1) % P;
  const int prev = (world_->rank() + P - 1) % P;
  auto mine = random(777, 7);
  auto d_mine = up(mine);
  DeviceBuffer<float> d_got(*gpu_, 777);
  // every rank sends before it receives: the communicator must batch them (a lone NCCL send would wait forever)
  Request s = nccl_->start_send(d_mine.data(), 777, next, 0);
  Request r = nccl_->start_recv(d_got.data(), 777, prev, 0);
  nccl_->wait(s);
  nccl_->wait(r);
  std::vector<float> want(777);
  Request ms = world_->start_send(mine.data(), 777, next, 0);
  Request mr = world_->start_recv(want.data(), 777, prev, 0);
  world_->wait(ms);
  world_->wait(mr);
  EXPECT_EQ(down(d_got), want);
}

TEST(NcclBuild, RefusedClearlyWithoutCuda) {
  if (cuda_compiled()) GTEST_SKIP() << "this build has CUDA";
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  EXPECT_THROW(make_nccl_communicator(world, nullptr), std::runtime_error);
}

}  // namespace
}  // namespace tessera
