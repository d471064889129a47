// The device communicators against the MPI one (ProcessGroup) on the same data: every collective and point-to-point
// call of the Communicator interface. NCCL on GPU buffers: run under mpirun with one GPU per rank; with fewer GPUs
// than ranks (or none, or a build without CUDA) each test reports "skipped: no GPU". The staged communicator (ranks
// sharing a GPU: buffers through host memory over MPI) on the CPU backend everywhere, and on one GPU shared by every
// rank where there is one: its results are MPI's bit for bit.
#include <gtest/gtest.h>

#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "parallel/comm_nccl.hpp"
#include "parallel/comm_self_device.hpp"
#include "parallel/comm_staged.hpp"
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
    nccl_ = make_nccl_communicator(*world_, gpu_->stream(), true);
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
  // every rank sends before it receives: its send goes over a link of its own, not behind the receive
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

// Every rank posts all its receives before it sends anything, with tags that tell the messages apart on MPI only:
// to the next rank X1, to the previous Y, to the next X2 (X1 and X2 of one size); the receives posted in the order
// their senders send (two ranks: X1, Y, X2 from the one peer). The results equal MPI's tagged exchange.
void expect_receives_posted_first_match(const Communicator& c, Backend& backend, const ProcessGroup& world) {
  const int P = world.size(), me = world.rank();
  const int next = (me + 1) % P, prev = (me + P - 1) % P;
  std::mt19937 gen(static_cast<uint32_t>(me) * 7919U + 11U);
  std::normal_distribution<float> d;
  auto random = [&](int64_t n) {
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = d(gen);
    return v;
  };
  const int64_t nx = 3001, ny = 257;
  const std::vector<float> x1 = random(nx), y = random(ny), x2 = random(nx);
  auto up = [&](const std::vector<float>& h) {
    DeviceBuffer<float> b(backend, static_cast<int64_t>(h.size()));
    b.upload(h.data());
    return b;
  };
  DeviceBuffer<float> d_x1 = up(x1), d_y = up(y), d_x2 = up(x2);
  DeviceBuffer<float> got_x1(backend, nx), got_y(backend, ny), got_x2(backend, nx);
  std::vector<Request> in;
  in.push_back(c.start_recv(got_x1.data(), nx, prev, 1));  // prev's first to its next
  if (P == 2) in.push_back(c.start_recv(got_y.data(), ny, next, 2));
  in.push_back(c.start_recv(got_x2.data(), nx, prev, 3));
  if (P > 2) in.push_back(c.start_recv(got_y.data(), ny, next, 2));  // from the other side
  Request s1 = c.start_send(d_x1.data(), nx, next, 1);
  Request s2 = c.start_send(d_y.data(), ny, prev, 2);
  Request s3 = c.start_send(d_x2.data(), nx, next, 3);
  for (Request& r : in) c.wait(r);
  c.wait(s1);
  c.wait(s2);
  c.wait(s3);
  std::vector<float> want_x1(static_cast<size_t>(nx)), want_y(static_cast<size_t>(ny)), want_x2(want_x1.size());
  Request m[6] = {world.start_recv(want_x1.data(), nx, prev, 1), world.start_recv(want_y.data(), ny, next, 2),
                  world.start_recv(want_x2.data(), nx, prev, 3), world.start_send(x1.data(), nx, next, 1),
                  world.start_send(y.data(), ny, prev, 2),       world.start_send(x2.data(), nx, next, 3)};
  for (Request& r : m) world.wait(r);
  auto down = [](const DeviceBuffer<float>& b) {
    std::vector<float> h(static_cast<size_t>(b.size()));
    b.download(h.data());
    return h;
  };
  EXPECT_EQ(down(got_x1), want_x1) << "X1";
  EXPECT_EQ(down(got_y), want_y) << "Y";
  EXPECT_EQ(down(got_x2), want_x2) << "X2";
}

TEST_F(Nccl, ReceivesPostedBeforeAnySendMatchInTheSendersOrder) {
  if (world_->size() == 1) GTEST_SKIP() << "one rank: no peer (run under mpirun -np 2 or more)";
  expect_receives_posted_first_match(*nccl_, *gpu_, *world_);
}

// The same on the CPU: MPI with tags ignored (ProcessGroup::set_ordered_p2p), as the pipeline's tests run NCCL's
// order of messages.
TEST(OrderedMpi, ReceivesPostedBeforeAnySendMatchInTheSendersOrder) {
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  if (world.size() == 1) GTEST_SKIP() << "one rank: no peer (run under mpirun -np 2 or more)";
  std::vector<int> all(static_cast<size_t>(world.size()));
  std::iota(all.begin(), all.end(), 0);
  ProcessGroup ordered = ProcessGroup::split(world, all);
  ordered.set_ordered_p2p(true);
  const std::unique_ptr<Backend> cpu = make_cpu_backend();
  expect_receives_posted_first_match(ordered, *cpu, world);
}

// ---- the communicators for device buffers on the backend the parameter names ("cpu", or "cuda": every rank on
// GPU 0), skipped where that is a GPU and there is none
class OnBackend : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (std::string(GetParam()) == "cuda") {
      if (cuda_device_count() == 0) GTEST_SKIP() << "skipped: no GPU (" << cuda_unavailable_reason() << ")";
      backend_ = make_cuda_backend(0);
    } else {
      backend_ = make_cpu_backend();
    }
  }
  template <typename T>
  DeviceBuffer<T> up(const std::vector<T>& host) const {
    DeviceBuffer<T> b(*backend_, static_cast<int64_t>(host.size()));
    b.upload(host.data());
    return b;
  }
  template <typename T>
  std::vector<T> down(const DeviceBuffer<T>& b) const {
    std::vector<T> host(static_cast<size_t>(b.size()));
    b.download(host.data());
    return host;
  }
  std::unique_ptr<Backend> backend_;
};

// The staged communicator (ranks sharing a GPU) over the world.
class Staged : public OnBackend {
 protected:
  void SetUp() override {
    world_ = std::make_unique<ProcessGroup>(ProcessGroup::borrow(MPI_COMM_WORLD));
    OnBackend::SetUp();
    if (IsSkipped()) return;
    staged_ = make_staged_communicator(*world_, *backend_);
  }
  void TearDown() override {
    staged_.reset();
    backend_.reset();
  }
  template <typename T>
  std::vector<T> random(int64_t n, uint32_t salt) const {
    std::mt19937 gen(static_cast<uint32_t>(world_->rank()) * 1000U + salt);
    std::normal_distribution<T> d;
    std::vector<T> v(static_cast<size_t>(n));
    for (auto& x : v) x = d(gen);
    return v;
  }
  std::unique_ptr<ProcessGroup> world_;
  std::unique_ptr<Communicator> staged_;
};

TEST_P(Staged, CollectivesEqualMpi) {
  const int P = world_->size();
  EXPECT_EQ(staged_->rank(), world_->rank());
  EXPECT_EQ(staged_->size(), P);
  EXPECT_FALSE(staged_->ordered_p2p());  // MPI's tags: every pipeline schedule runs
  for (const ReduceOp op : {ReduceOp::kSum, ReduceOp::kMax}) {
    auto host = random<float>(100'003, 1);
    auto dev = up(host);
    world_->all_reduce(host.data(), static_cast<int64_t>(host.size()), op);
    staged_->all_reduce(dev.data(), dev.size(), op);
    EXPECT_EQ(down(dev), host) << (op == ReduceOp::kSum ? "all_reduce sum" : "all_reduce max");
    auto hd = random<double>(1001, 2);
    auto dd = up(hd);
    world_->all_reduce(hd.data(), static_cast<int64_t>(hd.size()), op);
    staged_->all_reduce(dd.data(), dd.size(), op);
    EXPECT_EQ(down(dd), hd) << "all_reduce double";
  }
  const int64_t n = 1001;
  auto mine = random<float>(n, 3);
  std::vector<float> gathered(static_cast<size_t>(n * P));
  world_->all_gather(mine.data(), gathered.data(), n);
  auto d_mine = up(mine);
  DeviceBuffer<float> d_gathered(*backend_, n * P);
  staged_->all_gather(d_mine.data(), d_gathered.data(), n);
  EXPECT_EQ(down(d_gathered), gathered) << "all_gather";
  // in place: this rank's block already where it belongs
  auto d_in_place = up(std::vector<float>(static_cast<size_t>(n * P), -1.0F));
  backend_->upload(d_in_place.data() + world_->rank() * n, mine.data(), n * static_cast<int64_t>(sizeof(float)));
  staged_->all_gather(d_in_place.data() + world_->rank() * n, d_in_place.data(), n);
  EXPECT_EQ(down(d_in_place), gathered) << "all_gather in place";

  auto full = random<double>(n * P, 4);
  std::vector<double> part(static_cast<size_t>(n));
  world_->reduce_scatter(full.data(), part.data(), n);
  auto d_full = up(full);
  DeviceBuffer<double> d_part(*backend_, n);
  staged_->reduce_scatter(d_full.data(), d_part.data(), n);
  EXPECT_EQ(down(d_part), part) << "reduce_scatter double";

  std::vector<int> counts(static_cast<size_t>(P));
  for (int r = 0; r < P; ++r) counts[static_cast<size_t>(r)] = 300 + 17 * r;  // uneven, as ZeRO-1's ranges
  const int total = std::accumulate(counts.begin(), counts.end(), 0);
  auto blocks = random<float>(total, 5);
  std::vector<float> mine_summed(static_cast<size_t>(counts[static_cast<size_t>(world_->rank())]));
  Request r1 = world_->start_reduce_scatter(blocks.data(), mine_summed.data(), counts.data());
  world_->wait(r1);
  auto d_blocks = up(blocks);
  DeviceBuffer<float> d_summed(*backend_, static_cast<int64_t>(mine_summed.size()));
  Request r2 = staged_->start_reduce_scatter(d_blocks.data(), d_summed.data(), counts.data());
  while (!staged_->test(r2)) {
  }
  EXPECT_FALSE(r2.pending());
  EXPECT_EQ(down(d_summed), mine_summed) << "start_reduce_scatter with counts, completed by test()";

  auto sums = random<float>(4097, 6);
  auto d_sums = up(sums);
  Request r0 = world_->start_all_reduce(sums.data(), static_cast<int64_t>(sums.size()));  // MPI's non-blocking sum
  world_->wait(r0);  // (its order of addition may differ from the blocking call's on three ranks or more)
  Request r3 = staged_->start_all_reduce(d_sums.data(), d_sums.size());
  staged_->wait(r3);
  EXPECT_EQ(down(d_sums), sums) << "start_all_reduce";

  auto spread = random<float>(total, 7);
  auto d_spread = up(spread);
  world_->all_gather_in_place(spread.data(), counts.data());
  staged_->all_gather_in_place(d_spread.data(), counts.data());
  EXPECT_EQ(down(d_spread), spread) << "all_gather_in_place";
}

// Point to point around the ring, tags honoured: each rank sends two messages and receives them in the other order.
TEST_P(Staged, SendRecvAroundTheRingByTag) {
  const int P = world_->size();
  if (P == 1) GTEST_SKIP() << "one rank: no peer (run under mpirun -np 2 or more)";
  const int next = (world_->rank() + 1) % P;
  const int prev = (world_->rank() + P - 1) % P;
  auto a = random<float>(777, 8), b = random<float>(555, 9);
  auto d_a = up(a), d_b = up(b);
  DeviceBuffer<float> got_a(*backend_, 777), got_b(*backend_, 555);
  Request sa = staged_->start_send(d_a.data(), 777, next, 1);
  Request sb = staged_->start_send(d_b.data(), 555, next, 2);
  Request rb = staged_->start_recv(got_b.data(), 555, prev, 2);
  Request ra = staged_->start_recv(got_a.data(), 777, prev, 1);
  staged_->wait(rb);
  staged_->wait(ra);
  staged_->wait(sa);
  staged_->wait(sb);
  std::vector<float> want_a(777), want_b(555);
  Request ms = world_->start_send(a.data(), 777, next, 1);
  Request ms2 = world_->start_send(b.data(), 555, next, 2);
  Request mr = world_->start_recv(want_a.data(), 777, prev, 1);
  Request mr2 = world_->start_recv(want_b.data(), 555, prev, 2);
  for (Request* r : {&ms, &ms2, &mr, &mr2}) world_->wait(*r);
  EXPECT_EQ(down(got_a), want_a);
  EXPECT_EQ(down(got_b), want_b);
  // blocking: even ranks send first, odd ranks receive first (rank 1 receives first, so the ring never deadlocks)
  DeviceBuffer<float> got(*backend_, 777);
  if (world_->rank() % 2 == 0) {
    staged_->send(d_a.data(), 777, next);
    staged_->recv(got.data(), 777, prev);
  } else {
    staged_->recv(got.data(), 777, prev);
    staged_->send(d_a.data(), 777, next);
  }
  EXPECT_EQ(down(got), want_a);
}

INSTANTIATE_TEST_SUITE_P(Backends, Staged, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

// ---- the device communicator of a group of one (no NCCL behind it)
class DeviceSelf : public OnBackend {
 protected:
  void SetUp() override {
    OnBackend::SetUp();
    if (!IsSkipped()) one_ = make_device_self_communicator(*backend_);
  }
  std::unique_ptr<Communicator> one_;
};

TEST_P(DeviceSelf, CollectivesOfOneRankReturnOrCopy) {
  EXPECT_EQ(one_->rank(), 0);
  EXPECT_EQ(one_->size(), 1);
  const std::vector<float> x = {1.5F, -2.0F, 3.25F, 0.0F, 7.0F};
  const std::vector<double> xd = {0.1, 0.2, 0.3};
  auto d = up(x);
  auto dd = up(xd);
  one_->all_reduce(d.data(), d.size(), ReduceOp::kSum);
  one_->all_reduce(dd.data(), dd.size(), ReduceOp::kMax);
  EXPECT_EQ(down(d), x);
  EXPECT_EQ(down(dd), xd);
  DeviceBuffer<float> got(*backend_, 5);
  got.zero();
  one_->all_gather(d.data(), got.data(), 5);
  EXPECT_EQ(down(got), x) << "all_gather copies";
  got.zero();
  one_->reduce_scatter(d.data(), got.data(), 5);
  EXPECT_EQ(down(got), x) << "reduce_scatter copies";
  DeviceBuffer<double> got_d(*backend_, 3);
  one_->all_gather(dd.data(), got_d.data(), 3);
  EXPECT_EQ(down(got_d), xd);
  one_->all_gather(d.data(), d.data(), 5);  // in place: nothing to do
  one_->all_gather_in_place(d.data(), std::vector<int>{5}.data());
  EXPECT_EQ(down(d), x);
  got.zero();
  const int counts[1] = {4};
  Request r = one_->start_reduce_scatter(d.data(), got.data(), counts);
  EXPECT_TRUE(one_->test(r));
  EXPECT_EQ(down(got), (std::vector<float>{1.5F, -2.0F, 3.25F, 0.0F, 0.0F})) << "start_reduce_scatter: counts[0]";
  Request r2 = one_->start_all_reduce(d.data(), 5);
  one_->wait(r2);
  EXPECT_FALSE(r2.pending());
  EXPECT_EQ(down(d), x);
  EXPECT_THROW(one_->send(d.data(), 5, 1), std::runtime_error);  // no peer: a schedule's bug, said
  EXPECT_THROW(static_cast<void>(one_->start_recv(d.data(), 5, 1, 0)), std::runtime_error);
}

INSTANTIATE_TEST_SUITE_P(Backends, DeviceSelf, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

TEST(NcclBuild, RefusedClearlyWithoutCuda) {
  if (cuda_compiled()) GTEST_SKIP() << "this build has CUDA";
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  EXPECT_THROW(make_nccl_communicator(world, nullptr, false), std::runtime_error);
}

}  // namespace
}  // namespace tessera
