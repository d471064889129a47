// LR schedule and AdamW against hand-computed values; MLM masking proportions.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "core/rng.hpp"
#include "optim/adamw.hpp"
#include "optim/lr_schedule.hpp"
#include "train/mlm_masking.hpp"

namespace tessera {
namespace {

TEST(LrSchedule, WarmupThenCosineToTheFloor) {
  LrSchedule s;
  s.max_lr = 1.0F;
  s.min_lr = 0.1F;
  s.warmup_steps = 4;
  s.total_steps = 14;
  s.decay = Decay::kCosine;
  EXPECT_FLOAT_EQ(s.at(0), 0.25F);
  EXPECT_FLOAT_EQ(s.at(3), 1.0F);
  EXPECT_FLOAT_EQ(s.at(4), 1.0F);               // decay starts at p = 0
  EXPECT_NEAR(s.at(9), 0.1 + 0.9 * 0.5, 1e-6);  // p = 0.5
  EXPECT_NEAR(s.at(6), 0.1 + 0.9 * 0.5 * (1 + std::cos(std::numbers::pi * 0.2)), 1e-6);
  EXPECT_FLOAT_EQ(s.at(14), 0.1F);
  EXPECT_FLOAT_EQ(s.at(100), 0.1F);  // stays at the floor
}

TEST(LrSchedule, LinearAndConstant) {
  LrSchedule s;
  s.max_lr = 2.0F;
  s.min_lr = 0.0F;
  s.warmup_steps = 0;
  s.total_steps = 10;
  s.decay = Decay::kLinear;
  EXPECT_FLOAT_EQ(s.at(0), 2.0F);
  EXPECT_FLOAT_EQ(s.at(5), 1.0F);
  EXPECT_FLOAT_EQ(s.at(10), 0.0F);
  s.decay = Decay::kConstant;
  EXPECT_FLOAT_EQ(s.at(7), 2.0F);
}

TEST(AdamW, DecaysOnlyMatricesAndOptionallyEmbeddings) {
  TensorTable table;
  table.add("embed.wte", {2, 2}, {.weight_decay = true, .in_matmul = true, .embedding = true, .vocab_rows = true});
  table.add("layers.0.attn.qkv.weight", {2, 2}, {.weight_decay = true, .in_matmul = true});
  table.add("layers.0.attn.qkv.bias", {2}, {.init = TensorInit::kZeros});
  table.add("layers.0.attn_norm.weight", {2}, {.init = TensorInit::kOnes, .norm = true});
  AdamWConfig c;
  c.weight_decay = 0.5F;
  c.decay_embeddings = false;
  AdamW opt(table, c);
  EXPECT_EQ(opt.decay_of(table[0]), 0.0F);
  EXPECT_EQ(opt.decay_of(table[1]), 0.5F);
  EXPECT_EQ(opt.decay_of(table[2]), 0.0F);
  EXPECT_EQ(opt.decay_of(table[3]), 0.0F);
  // zero gradient: only decay moves a parameter, p -= lr * wd * p
  std::vector<float> p(static_cast<size_t>(table.total()), 1.0F), g(p.size(), 0.0F);
  opt.step(p.data(), g.data(), 0.1F);
  EXPECT_FLOAT_EQ(p[static_cast<size_t>(table[0].offset)], 1.0F);
  EXPECT_FLOAT_EQ(p[static_cast<size_t>(table[1].offset)], 0.95F);
  EXPECT_FLOAT_EQ(p[static_cast<size_t>(table[2].offset)], 1.0F);
  EXPECT_EQ(opt.steps_taken(), 1);
}

TEST(MlmMasking, ProportionsOverManySamples) {
  MlmMasking m;
  m.mask_id = 1000;
  m.random_vocab = 500;
  const int n = 128;
  int64_t positions = 0, selected = 0, masked = 0, random = 0, kept = 0;
  for (uint64_t s = 0; s < 2000; ++s) {
    std::vector<int32_t> tokens(n), targets(n);
    for (int i = 0; i < n; ++i) tokens[i] = 500 + i;  // outside [0, 500): a random replacement is recognisable
    const std::vector<int32_t> original = tokens;
    Rng rng(42, s);
    const int count = apply_mlm_masking(tokens.data(), targets.data(), n, m, rng);
    positions += n;
    selected += count;
    for (int i = 0; i < n; ++i) {
      if (targets[i] < 0) {
        EXPECT_EQ(tokens[i], original[i]);  // unselected positions are never touched
        continue;
      }
      EXPECT_EQ(targets[i], original[i]);
      if (tokens[i] == m.mask_id) {
        ++masked;
      } else if (tokens[i] < 500) {
        ++random;
      } else {
        EXPECT_EQ(tokens[i], original[i]);
        ++kept;
      }
    }
  }
  const double sel = static_cast<double>(selected);
  EXPECT_NEAR(sel / static_cast<double>(positions), 0.15, 0.005);
  EXPECT_NEAR(static_cast<double>(masked) / sel, 0.8, 0.01);
  EXPECT_NEAR(static_cast<double>(random) / sel, 0.1, 0.01);
  EXPECT_NEAR(static_cast<double>(kept) / sel, 0.1, 0.01);
}

TEST(MlmMasking, SameStreamSameMask) {
  MlmMasking m;
  m.mask_id = 3;
  m.random_vocab = 3;
  std::vector<int32_t> a(64, 1), b(64, 1), ta(64), tb(64);
  Rng r1(9, 77), r2(9, 77);
  apply_mlm_masking(a.data(), ta.data(), 64, m, r1);
  apply_mlm_masking(b.data(), tb.data(), 64, m, r2);
  EXPECT_EQ(a, b);
  EXPECT_EQ(ta, tb);
}

}  // namespace
}  // namespace tessera
