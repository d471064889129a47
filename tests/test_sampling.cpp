// Sampling at scale: the block cache of TokenDataset, blending by weights, resuming mid-epoch with the same or
// another dp, and an order pinned across builds and processes.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "core/check.hpp"
#include "io/blended_sampler.hpp"
#include "io/prepare.hpp"
#include "io/sampler.hpp"
#include "io/token_dataset.hpp"
#include "temp_dir.hpp"
#include "train/batch.hpp"
#include "train/run_data.hpp"

namespace tessera {
namespace {

using testing::TempDir;

// A byte-tokenized dataset of documents of 50 `letter`s and a newline: every token of it is the letter, the newline
// or end-of-text (52 a document), so a sample shows which dataset it came from.
std::string letter_dataset(const TempDir& dir, char letter, int documents, const std::string& tokenizer = "byte") {
  const std::string name = std::string("letters-") + letter + "-" + tokenizer;
  std::ofstream(dir / (name + ".txt")) << [&] {
    std::string text;
    for (int i = 0; i < documents; ++i) text += std::string(50, letter) + "\n";
    return text;
  }();
  PrepareOptions o;
  o.inputs = {dir / (name + ".txt")};
  o.output = dir / name;
  o.tokenizer = tokenizer;
  o.doc_boundary = "line";
  o.val_fraction = 0.1;
  prepare_dataset(o);
  return o.output;
}

TEST(TokenDataset, BlockCacheReadsWhatTheFileHolds) {
  TempDir dir;
  // 3 blocks and a bit: reads that cross block boundaries, through a cache of two blocks
  const std::string ds = letter_dataset(dir, 'x', 4600);
  TokenDataset small(ds, "train", 2 * TokenDataset::kCacheBlock), big(ds, "train");
  const int64_t n = small.tokens();
  ASSERT_GT(n, 3 * TokenDataset::kCacheBlock);
  std::vector<int32_t> all(static_cast<size_t>(n));
  big.read(0, 0, n, all.data());
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(all[static_cast<size_t>(i)], i % 52 == 51 ? 256 : i % 52 == 50 ? '\n' : 'x') << i;
  Rng rng(3, 0);
  std::vector<int32_t> part(5000);
  for (int trial = 0; trial < 300; ++trial) {
    const auto start = static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - 5000)));
    small.read(0, start, 5000, part.data());
    ASSERT_TRUE(std::equal(part.begin(), part.end(), all.begin() + start)) << start;
  }
  EXPECT_GT(small.cache_hits(), 0);
  EXPECT_GT(small.cache_misses(), 4);  // two blocks cannot hold four: blocks were evicted and read again
}

TEST(BlendedSampler, OneDatasetSamplesAsItsSampler) {
  TempDir dir;
  const TokenDataset data(letter_dataset(dir, 'a', 400), "train");
  Sampler plain(data, 32, 11, true);
  BlendedSampler blend({&data}, {1.0}, 32, 11, true);
  std::vector<int32_t> x(33), y(33);
  for (int64_t k = 0; k < 3 * plain.samples_per_epoch(); k += 7) {
    plain.read(k, x.data());
    blend.read(k, y.data());
    ASSERT_EQ(x, y);
    ASSERT_EQ(blend.index_in_dataset(k), k);
  }
}

TEST(BlendedSampler, ProportionsFollowTheWeightsAtEveryPrefix) {
  TempDir dir;
  const TokenDataset a(letter_dataset(dir, 'a', 300), "train"), b(letter_dataset(dir, 'b', 200), "train"),
      c(letter_dataset(dir, 'c', 100), "train");
  const std::vector<double> w{0.5, 0.3, 0.2};
  BlendedSampler blend({&a, &b, &c}, {5, 3, 2}, 16, 1, true);  // weights are normalised
  const int64_t n = 3 * BlendedSampler::kBlock + 1234;
  std::vector<int64_t> count(3, 0), next(3, 0);
  for (int64_t k = 0; k < n; ++k) {
    const int d = blend.dataset_of(k);
    // each dataset's samples come in order, none skipped, none twice
    ASSERT_EQ(blend.index_in_dataset(k), next[static_cast<size_t>(d)]++) << k;
    ++count[static_cast<size_t>(d)];
    for (size_t e = 0; e < 3; ++e)
      ASSERT_LT(std::abs(static_cast<double>(count[e]) - w[e] * static_cast<double>(k + 1)), 2.0) << k;
  }
  // the tokens come from the dataset the blend names
  std::vector<int32_t> seq(17);
  for (int64_t k = 0; k < 3000; ++k) {
    blend.read(k, seq.data());
    const int32_t letter = 'a' + blend.dataset_of(k);
    for (int32_t t : seq) ASSERT_TRUE(t == letter || t == '\n' || t == 256) << k;
  }
  // small datasets repeat: 'c' (about 90 documents) is read for many epochs
  EXPECT_GT(count[2], 20 * Sampler(c, 16, 1, true).samples_per_epoch());
  EXPECT_THROW(BlendedSampler({&a, &b}, {1.0, 1e-7}, 16, 1, true), Error);  // under one sample per block
  EXPECT_THROW(BlendedSampler({&a, &b}, {1.0, -1.0}, 16, 1, true), Error);
}

// What a run reads: global sample -> its tokens, for `steps` steps from `first_step` with this dp, each rank with its
// own sampler (as separate processes would have).
void run_steps(const std::vector<const TokenDataset*>& data, int dp, int64_t first_step, int64_t steps,
               std::map<int64_t, std::vector<int32_t>>& read) {
  const int global_batch = 12, T = 16;
  for (int rank = 0; rank < dp; ++rank) {
    BlendedSampler sampler(data, {0.6, 0.4}, T, 5, true);  // a fresh sampler: all a resumed run has is the step
    const int mb = global_batch / dp / (dp == 2 ? 2 : 1);  // dp 2 with two micro-batches (gradient accumulation)
    for (int64_t step = first_step; step < first_step + steps; ++step) {
      for (int m = 0; m < global_batch / (mb * dp); ++m) {
        for (int i = 0; i < mb; ++i) {
          const int64_t k = global_sample(step * global_batch, mb, m, i, dp, rank);
          std::vector<int32_t> seq(T + 1);
          sampler.read(k, seq.data());
          ASSERT_TRUE(read.emplace(k, seq).second) << "sample " << k << " read twice";
        }
      }
    }
  }
}

TEST(BlendedSampler, ResumesMidEpochWithTheSameOrAnotherDp) {
  TempDir dir;
  const TokenDataset a(letter_dataset(dir, 'a', 30), "train"), b(letter_dataset(dir, 'b', 20), "train");
  const std::vector<const TokenDataset*> data{&a, &b};
  BlendedSampler probe(data, {0.6, 0.4}, 16, 5, true);
  // 40 steps of 12 samples run through several epochs of both datasets; resuming at step 17 is mid-epoch
  ASSERT_LT(probe.samples_per_epoch(), 40 * 12 / 2);
  std::map<int64_t, std::vector<int32_t>> straight;
  run_steps(data, 1, 0, 40, straight);
  ASSERT_EQ(straight.size(), 480U);
  for (const int dp_after : {1, 2, 3, 4}) {
    std::map<int64_t, std::vector<int32_t>> resumed;
    run_steps(data, 2, 0, 17, resumed);
    run_steps(data, dp_after, 17, 23, resumed);
    EXPECT_EQ(resumed, straight) << "resumed with dp " << dp_after;
  }
}

TEST(Sampler, OrderIsPinnedAcrossBuildsAndProcesses) {
  // A resumed run in another process (or another build) must draw the same order: these are the first samples of
  // seed 1234 over 1000 sequences, epochs 0 and 1. Changing them breaks resuming every existing run.
  TempDir dir;
  TokenizerInfo info;
  info.name = "byte";
  info.vocab_size = 259;
  info.eot_id = 256;  // a dataset always has an end-of-text id inside its vocabulary
  ShardWriter writer(dir.path().string(), "train", info, "", 1 << 20);
  writer.add_document(std::vector<int32_t>(18 * 1000 + 1, 7));
  writer.finish();
  const TokenDataset data(dir.path().string(), "train");
  Sampler s(data, 18, 1234, true);
  ASSERT_EQ(s.samples_per_epoch(), 1000);
  std::vector<int64_t> first, second;
  for (int64_t k = 0; k < 8; ++k) first.push_back(s.sequence_of(k));
  for (int64_t k = 0; k < 8; ++k) second.push_back(s.sequence_of(1000 + k));
  EXPECT_EQ(first, (std::vector<int64_t>{514, 616, 188, 420, 47, 405, 535, 739}));
  EXPECT_EQ(second, (std::vector<int64_t>{515, 635, 386, 0, 688, 920, 894, 605}));
}

TEST(RunData, BlendsNeedOneTokenizerAndTheExpectedOne) {
  TempDir dir;
  DataConfig cfg;
  const std::string a = letter_dataset(dir, 'a', 60);
  cfg.paths = {a, letter_dataset(dir, 'b', 60, "gpt2")};
  auto message = [&] {
    try {
      open_run_data(cfg);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message().find("a blend needs one tokenizer"), std::string::npos);
  cfg.paths = {a, letter_dataset(dir, 'c', 60)};
  cfg.weights = {1, 2, 3};
  EXPECT_NE(message().find("3 weights for 2 datasets"), std::string::npos);
  cfg.weights = {1, 3};
  const RunData ok = open_run_data(cfg);
  EXPECT_DOUBLE_EQ(ok.weights[1], 0.75);
  EXPECT_EQ(ok.val.size(), 2U);
  cfg.tokenizer = "gpt2";
  EXPECT_NE(message().find("expects data.tokenizer = \"gpt2\""), std::string::npos);
  cfg.tokenizer = "byte";
  cfg.path = cfg.paths[0];
  EXPECT_NE(message().find("not both"), std::string::npos);
}

}  // namespace
}  // namespace tessera
