// Layout parity under mpirun: every data-parallel layout gives the single-rank run's loss at every step.
#include <gtest/gtest.h>

#include <cmath>

#include "io/hdf5_file.hpp"
#include "io/prepare.hpp"
#include "io/sampler.hpp"
#include "io/token_dataset.hpp"
#include "training_fixture.hpp"

namespace tessera {
namespace {

using testing::byte_shakespeare;
using testing::train;

TEST(Parity, DataParallelMatchesOneRank) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const std::string data = byte_shakespeare();
  for (const char* preset : {"tiny-gpt2", "tiny-llama"}) {
    for (const char* objective : {"clm", "mlm"}) {
      const std::vector<std::string> o = {"data.path=" + data,
                                          "train.steps=5",
                                          "train.micro_batch=2",
                                          "train.global_batch=" + std::to_string(4 * world),
                                          std::string("model.objective=") + objective,
                                          "log.interval=100"};
      const TrainResult one = train(preset, o, {1, 1, 1}, MPI_COMM_SELF);  // each rank alone
      const TrainResult all = train(preset, o, {1, 1, world});
      ASSERT_EQ(one.steps.size(), all.steps.size());
      for (size_t i = 0; i < one.steps.size(); ++i) {
        const double rel = std::abs(one.steps[i].loss - all.steps[i].loss) / std::abs(one.steps[i].loss);
        EXPECT_LT(rel, 1e-5) << preset << " " << objective << " dp=" << world << " step " << i + 1 << ": "
                             << one.steps[i].loss << " vs " << all.steps[i].loss;
      }
      EXPECT_LT(std::abs(one.val_losses.back().second - all.val_losses.back().second) / one.val_losses.back().second,
                1e-5);
    }
  }
}

// A temporary directory that every rank names alike (rank 0's pid), and options to prepare tinyshakespeare into it.
PrepareOptions shakespeare_options(const std::string& name, const std::string& tokenizer, std::filesystem::path& dir) {
  long pid = getpid();
  MPI_Bcast(&pid, 1, MPI_LONG, 0, MPI_COMM_WORLD);
  dir = std::filesystem::temp_directory_path() / ("tessera-" + name + "-" + std::to_string(pid));
  PrepareOptions o;
  o.inputs = {testing::shakespeare_path()};
  o.tokenizer = tokenizer;
  o.doc_boundary = "blank";
  return o;
}

TEST(Prepare, AnyNumberOfRanksWritesTheSameDataset) {
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  std::filesystem::path dir;
  PrepareOptions o = shakespeare_options("prepare-ranks", "gpt2", dir);
  o.shard_tokens = 100000;  // several shards
  o.output = (dir / "all").string();
  o.batch_bytes = 50000;  // many batches on many ranks; one batch on one rank: the same dataset
  const ProcessGroup all = ProcessGroup::borrow(MPI_COMM_WORLD);
  const PrepareSummary many = prepare_dataset(o, all);
  if (rank == 0) {
    o.output = (dir / "one").string();
    o.batch_bytes = int64_t{64} << 20;
    const PrepareSummary one = prepare_dataset(o);
    EXPECT_EQ(many.train_tokens, one.train_tokens);
    EXPECT_EQ(many.val_documents, one.val_documents);
    EXPECT_GT(one.train_shards, 2);
    for (const char* split : {"train", "val"}) {
      for (const std::string& a : shard_paths((dir / "all").string(), split)) {
        const std::string b = (dir / "one" / std::filesystem::path(a).filename()).string();
        h5::File fa(a, h5::Mode::kRead), fb(b, h5::Mode::kRead);
        EXPECT_EQ(fa.read<uint16_t>("/tokens"), fb.read<uint16_t>("/tokens")) << a << " with " << world << " ranks";
        EXPECT_EQ(fa.read<uint64_t>("/doc_offsets"), fb.read<uint64_t>("/doc_offsets")) << a;
      }
    }
    std::filesystem::remove_all(dir);
  }
  MPI_Barrier(MPI_COMM_WORLD);
}

TEST(Sampling, EveryProcessDrawsTheSameOrder) {
  // each rank builds its own sampler from the same dataset and seed: the orders of two epochs agree everywhere
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::filesystem::path dir;
  PrepareOptions o = shakespeare_options("sampling-ranks", "byte", dir);
  o.output = (dir / "ds").string();
  o.progress = false;
  const ProcessGroup all = ProcessGroup::borrow(MPI_COMM_WORLD);
  prepare_dataset(o, all);
  const TokenDataset data(o.output, "train");
  Sampler sampler(data, 64, 42, true);
  std::vector<int64_t> order;
  for (int64_t k = 0; k < 2 * sampler.samples_per_epoch(); ++k) order.push_back(sampler.sequence_of(k));
  std::vector<int64_t> root = order;
  MPI_Bcast(root.data(), static_cast<int>(root.size()), MPI_INT64_T, 0, MPI_COMM_WORLD);
  EXPECT_EQ(order, root) << "rank " << rank;
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
