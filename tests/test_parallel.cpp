// Layout parity under mpirun: every data-parallel layout gives the single-rank run's loss at every step.
#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace tessera
