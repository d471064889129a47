// Training end to end on one rank: determinism, learning on tinyshakespeare, both families and objectives,
// non-finite handling.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/check.hpp"
#include "io/token_dataset.hpp"
#include "training_fixture.hpp"

namespace tessera {
namespace {

using testing::byte_shakespeare;
using testing::train;

const Layout kOne{1, 1, 1};

std::vector<double> losses(const TrainResult& r) {
  std::vector<double> out;
  for (const StepRecord& s : r.steps) out.push_back(s.loss);
  return out;
}

TEST(Training, SameSeedGivesBitIdenticalLosses) {
  const std::string data = byte_shakespeare(MPI_COMM_SELF);
  for (const char* preset : {"tiny-gpt2", "tiny-llama"}) {
    const std::vector<std::string> o = {"data.path=" + data, "train.steps=6", "train.global_batch=16"};
    const auto a = losses(train(preset, o, kOne, MPI_COMM_SELF));
    const auto b = losses(train(preset, o, kOne, MPI_COMM_SELF));
    ASSERT_EQ(a.size(), 6U);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << preset << " step " << i + 1;
    auto c = o;
    c.push_back("train.seed=99");
    EXPECT_NE(losses(train(preset, c, kOne, MPI_COMM_SELF))[0], a[0]) << "the seed must matter";
  }
}

// Unigram entropy (nats per token) of the training split: the loss of the best model that ignores context.
double unigram_entropy(const std::string& data) {
  TokenDataset d(data, "train");
  std::map<int32_t, int64_t> counts;
  std::vector<int32_t> buf(static_cast<size_t>(d.shard_tokens(0)));
  d.read(0, 0, d.shard_tokens(0), buf.data());
  for (int32_t t : buf) ++counts[t];
  double h = 0;
  for (const auto& [t, c] : counts) {
    const double p = static_cast<double>(c) / static_cast<double>(buf.size());
    h -= p * std::log(p);
  }
  return h;
}

TEST(Training, LearnsTinyShakespeareWellBelowTheUnigramEntropy) {
  const std::string data = byte_shakespeare(MPI_COMM_SELF);
  const double entropy = unigram_entropy(data);
  const TrainResult r = train("tiny-gpt2",
                              {"data.path=" + data, "train.steps=300", "train.micro_batch=16", "train.lr=5e-3",
                               "train.warmup_steps=20", "eval.batches=0", "log.interval=50"},
                              kOne, MPI_COMM_SELF);
  ASSERT_FALSE(r.val_losses.empty());
  const double val = r.val_losses.back().second;
  std::printf("tinyshakespeare (bytes): unigram entropy %.3f nats, validation loss after 300 steps %.3f nats\n",
              entropy, val);
  EXPECT_NEAR(entropy, 3.3, 0.2);  // characters of English text
  EXPECT_LT(val, entropy - 0.65);  // 2.38 to 2.60 nats over the held-out paragraphs of three split rules
}

TEST(Training, EveryFamilyAndObjectiveLearns) {
  const std::string data = byte_shakespeare(MPI_COMM_SELF);
  for (const char* preset : {"tiny-gpt2", "tiny-llama"}) {
    for (const char* objective : {"clm", "mlm"}) {
      const TrainResult r = train(
          preset,
          {"data.path=" + data, "train.steps=40", std::string("model.objective=") + objective, "log.interval=100"},
          kOne, MPI_COMM_SELF);
      const double first = r.steps.front().loss, last = r.steps.back().loss;
      EXPECT_NEAR(first, std::log(259.0), 0.3) << preset << " " << objective << ": the first loss is ~log(V)";
      EXPECT_LT(last, first - 1.5) << preset << " " << objective;
    }
  }
}

TEST(Training, NonFiniteLossStopsOrSkips) {
  const std::string data = byte_shakespeare(MPI_COMM_SELF);
  const std::vector<std::string> o = {"data.path=" + data, "train.steps=4",   "train.lr=1e30",  "train.warmup_steps=0",
                                      "train.grad_clip=0", "train.beta1=0.0", "train.eps=1e-30"};
  try {
    train("tiny-gpt2", o, kOne, MPI_COMM_SELF);
    FAIL() << "a non-finite loss must stop the run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
  }
  auto skip = o;
  skip.push_back("train.on_nonfinite=skip");
  const TrainResult r = train("tiny-gpt2", skip, kOne, MPI_COMM_SELF);
  ASSERT_EQ(r.steps.size(), 4U);
  EXPECT_TRUE(r.steps.back().skipped);
}

TEST(Training, DatasetVocabularyLargerThanTheModelIsAnError) {
  const std::string data = byte_shakespeare(MPI_COMM_SELF);
  EXPECT_THROW(train("tiny-gpt2", {"data.path=" + data, "model.vocab_size=100"}, kOne, MPI_COMM_SELF), Error);
  EXPECT_THROW(train("tiny-gpt2", {"data.path=" + data}, {1, 1, 2}, MPI_COMM_SELF), Error);  // layout vs world
}

// Problems a run would meet only at its end are found before step 1: a damaged validation shard, a checkpoint
// directory that cannot be made.
TEST(Training, DamagedValidationShardAndBadCheckpointDirFailBeforeStepOne) {
  const auto dir = std::filesystem::temp_directory_path() / ("tessera-damaged-val-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::copy(byte_shakespeare(MPI_COMM_SELF), dir);
  {  // one validation token outside the byte vocabulary (259)
    const std::string shard = (dir / "val-00000.h5").string();
    const hid_t f = H5Fopen(shard.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t d = H5Dopen2(f, "/tokens", H5P_DEFAULT);
    const hid_t space = H5Dget_space(d);
    const hsize_t start = 100, count = 1;
    H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &count, nullptr);
    const hid_t mem = H5Screate_simple(1, &count, nullptr);
    const uint16_t bad = 9999;
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_UINT16, mem, space, H5P_DEFAULT, &bad), 0);
    H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
  }
  const auto ck = dir / "ck";
  try {
    train("tiny-gpt2",
          {"data.path=\"" + dir.string() + "\"", "train.steps=2", "checkpoint.dir=\"" + ck.string() + "\""}, kOne,
          MPI_COMM_SELF);
    ADD_FAILURE() << "a damaged validation shard was not found";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("val-00000.h5"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(ck / "latest")) << "found only at the evaluation after training";
  const auto file = dir / "a-file";
  std::ofstream(file) << "x";
  const std::string data = byte_shakespeare(MPI_COMM_SELF);
  try {
    train("tiny-gpt2", {"data.path=\"" + data + "\"", "checkpoint.dir=\"" + (file / "ck").string() + "\""}, kOne,
          MPI_COMM_SELF);
    ADD_FAILURE() << "a checkpoint directory under a file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the directory"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera
