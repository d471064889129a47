// The whole model's gradient against finite differences (double precision), both families, both objectives.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "gradcheck.hpp"
#include "model/transformer.hpp"
#include "optim/adamw.hpp"

namespace tessera {
namespace {

ModelConfig tiny(const std::string& family, Objective objective) {
  ModelConfig m;
  m.family = family;
  m.apply_family_defaults();
  m.vocab_size = 37;  // padded to 128: the padding rows are checked too
  m.max_seq_len = 6;
  m.n_layer = 2;
  m.n_head = 4;
  m.n_kv_head = family == "llama" ? 2 : 4;
  m.d_model = 8;
  m.d_ff = family == "llama" ? 12 : 0;
  m.objective = objective;
  m.mask_token_id = 36;
  m.init_std = 0.3F;  // larger than in training, so every path carries a visible gradient
  return m;
}

void check_model_gradient(const std::string& family, Objective objective) {
  const int B = 2, Tn = 5;
  Transformer<double> model(tiny(family, objective), B);
  model.init_weights(7);
  // perturb the unit norm weights and zero biases, so their gradients are exercised away from the trivial point
  Rng rng(3, 0);
  for (int64_t i = 0; i < model.flat_size(); ++i) model.params()[i] += 0.05 * rng.normal();
  std::vector<int32_t> tokens(B * Tn), targets(B * Tn);
  for (int i = 0; i < B * Tn; ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(37));
    targets[i] = static_cast<int32_t>(rng.below(37));
  }
  targets[3] = -1;  // a position without loss (as MLM has)
  const double dloss = 1.0 / 9;
  auto loss = [&] { return dloss * model.forward(tokens.data(), targets.data(), B, Tn); };
  model.zero_grads();
  loss();
  model.backward(dloss);
  std::vector<double> analytic(model.grads(), model.grads() + model.flat_size());
  for (const TensorInfo& info : model.table().entries()) {
    testing::expect_gradient(family + " " + info.name, model.params() + info.offset, static_cast<size_t>(info.numel),
                             analytic.data() + info.offset, loss, 1e-6, 200);
  }
}

TEST(ModelGrad, Gpt2Causal) {
  check_model_gradient("gpt2", Objective::kCausal);
}
TEST(ModelGrad, Gpt2Masked) {
  check_model_gradient("gpt2", Objective::kMasked);
}
TEST(ModelGrad, LlamaCausal) {
  check_model_gradient("llama", Objective::kCausal);
}
TEST(ModelGrad, LlamaMasked) {
  check_model_gradient("llama", Objective::kMasked);
}

TEST(Model, ForwardBackwardInOneCallEqualsTheTwoCalls) {
  for (const char* family : {"gpt2", "llama"}) {
    Transformer<double> a(tiny(family, Objective::kCausal), 2), b(tiny(family, Objective::kCausal), 2);
    a.init_weights(5);
    b.init_weights(5);
    std::vector<int32_t> tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, targets = {2, 3, 4, 5, -1, 7, 8, 9, 10, 11};
    a.zero_grads();
    b.zero_grads();
    const double la = a.forward(tokens.data(), targets.data(), 2, 5);
    a.backward(0.1);
    const double lb = b.forward_backward(tokens.data(), targets.data(), 2, 5, 0.1);
    EXPECT_EQ(la, lb);
    for (int64_t i = 0; i < a.flat_size(); ++i) ASSERT_EQ(a.grads()[i], b.grads()[i]) << family << " " << i;
  }
}

TEST(Model, CausalOutputDoesNotSeeTheFuture) {
  Transformer<double> model(tiny("llama", Objective::kCausal), 1);
  model.init_weights(1);
  std::vector<int32_t> a = {1, 2, 3, 4, 5}, b = {1, 2, 3, 9, 9};
  model.forward(a.data(), nullptr, 1, 5);
  const int Vp = model.config().padded_vocab();
  std::vector<double> la(model.logits(), model.logits() + 5 * Vp);
  model.forward(b.data(), nullptr, 1, 5);
  for (int i = 0; i < 3 * Vp; ++i) EXPECT_DOUBLE_EQ(model.logits()[i], la[static_cast<size_t>(i)]);
  bool later_differs = false;
  for (int i = 3 * Vp; i < 5 * Vp; ++i) later_differs |= model.logits()[i] != la[static_cast<size_t>(i)];
  EXPECT_TRUE(later_differs);
}

TEST(Model, ParameterCountsMatchTheArchitecture) {
  ModelConfig m;
  m.vocab_size = 50257;
  m.max_seq_len = 1024;  // GPT-2 small: 124,439,808 parameters with the vocabulary padded to 50304
  Transformer<float> gpt2(m, 1);
  EXPECT_EQ(gpt2.table().count(), 124475904 - 50304 * 768 + 50304 * 768);
  EXPECT_EQ(gpt2.table().find("head.weight"), -1);  // tied
  ModelConfig l = tiny("llama", Objective::kCausal);
  Transformer<float> llama(l, 1);
  EXPECT_GE(llama.table().find("head.weight"), 0);
  EXPECT_EQ(llama.table().find("layers.0.attn.qkv.bias"), -1);
  // qkv: (NH + 2 NKV) * HS rows = (4 + 4) * 2
  EXPECT_EQ(llama.table()[llama.table().find("layers.0.attn.qkv.weight")].shape, (Shape{16, 8}));
}

// Transformer::sizes (train --dry-run, the presets' counts) is what a built model holds.
TEST(Model, SizesWithoutBuildingEqualTheBuiltModel) {
  for (const char* family : {"gpt2", "llama"}) {
    ModelConfig m = tiny(family, Objective::kCausal);
    for (const int T : {m.max_seq_len, 3}) {
      const ModelSizes s = Transformer<float>::sizes(m, 2, T);
      Transformer<float> model(m, 2, T);
      EXPECT_EQ(s.parameters, model.table().count()) << family;
      EXPECT_EQ(s.matmul_parameters, model.table().count_in_matmul()) << family;
      EXPECT_EQ(s.flat_elements, model.flat_size()) << family;
      EXPECT_EQ(s.activation_elements * static_cast<int64_t>(sizeof(float)), model.activation_bytes()) << family;
      EXPECT_DOUBLE_EQ(s.flops_per_token, model.flops_per_token(T)) << family;
    }
  }
  // planned for a shorter sequence: smaller activations, the same parameters
  const ModelConfig m = tiny("gpt2", Objective::kCausal);
  EXPECT_LT(Transformer<float>::sizes(m, 2, 3).activation_elements,
            Transformer<float>::sizes(m, 2, m.max_seq_len).activation_elements);
}

// Recomputation changes what a layer keeps, never what it computes: losses and gradients bit for bit those of no
// recomputation, over two steps (the second after an update), with less memory; sizes() plans what is built.
TEST(Model, RecomputationGivesTheSameGradientsInLessMemory) {
  for (const char* family : {"gpt2", "llama"}) {
    for (const Objective objective : {Objective::kCausal, Objective::kMasked}) {
      const ModelConfig m = tiny(family, objective);
      std::vector<float> want_grads;
      double want_loss = 0;
      int64_t last_bytes = 0;
      for (const Recompute r : {Recompute::kNone, Recompute::kSelective, Recompute::kFull}) {
        ModelShard shard;
        shard.attention = Attention::kMaterialized;  // selective recomputation drops its probabilities
        shard.recompute = r;
        Transformer<float> model(m, 2, 0, nullptr, shard);
        model.init_weights(11);
        std::vector<int32_t> tokens = {1, 2, 3, 36, 5, 6, 7, 8, 9, 10, 11, 12},
                             targets = {2, 3, 4, 4, -1, 7, 8, 9, 10, 11, 12, 13};
        double loss = 0;
        for (int step = 0; step < 2; ++step) {
          model.zero_grads();
          loss = model.forward_backward(tokens.data(), targets.data(), 2, 6, 0.1F);
          if (step == 0)
            for (int64_t i = 0; i < model.flat_size(); ++i) model.params()[i] -= 0.01F * model.grads()[i];
        }
        std::vector<float> grads(model.grads(), model.grads() + model.flat_size());
        const std::string what =
            std::string(family) + " " + to_string(objective) + " recompute " + std::to_string(static_cast<int>(r));
        if (r == Recompute::kNone) {
          want_grads = grads;
          want_loss = loss;
        } else {
          EXPECT_EQ(loss, want_loss) << what;
          EXPECT_EQ(grads, want_grads) << what;
          EXPECT_LT(model.activation_bytes(), last_bytes) << what;
        }
        last_bytes = model.activation_bytes();
        EXPECT_EQ(Transformer<float>::sizes(m, 2, 0, shard).activation_elements * static_cast<int64_t>(sizeof(float)),
                  model.activation_bytes())
            << what;
      }
    }
  }
}

// Flash attention trains the materialised model (the same function, summed in tiles): losses and gradients within
// float rounding, in less memory; recomputation on top of it changes nothing, bit for bit (selective keeps all
// under flash: there are no probabilities to drop). Attention with bf16 operands (cuDNN's on GPUs) near flash.
TEST(Model, FlashAttentionTrainsTheSameModelInLessMemory) {
  struct Run {
    double loss = 0;
    std::vector<float> grads;
    int64_t bytes = 0;
  };
  for (const char* family : {"gpt2", "llama"}) {
    for (const Objective objective : {Objective::kCausal, Objective::kMasked}) {
      const ModelConfig m = tiny(family, objective);
      auto run = [&](Attention attention, Recompute recompute) {
        ModelShard shard;
        shard.attention = attention;
        shard.recompute = recompute;
        Transformer<float> model(m, 2, 0, nullptr, shard);
        model.init_weights(11);
        std::vector<int32_t> tokens = {1, 2, 3, 36, 5, 6, 7, 8, 9, 10, 11, 12},
                             targets = {2, 3, 4, 4, -1, 7, 8, 9, 10, 11, 12, 13};
        Run r;
        for (int step = 0; step < 2; ++step) {
          model.zero_grads();
          r.loss = model.forward_backward(tokens.data(), targets.data(), 2, 6, 0.1F);
          if (step == 0)
            for (int64_t i = 0; i < model.flat_size(); ++i) model.params()[i] -= 0.01F * model.grads()[i];
        }
        r.grads.assign(model.grads(), model.grads() + model.flat_size());
        r.bytes = model.activation_bytes();
        EXPECT_EQ(Transformer<float>::sizes(m, 2, 0, shard).activation_elements * static_cast<int64_t>(sizeof(float)),
                  r.bytes);
        return r;
      };
      const std::string what = std::string(family) + " " + to_string(objective);
      const Run materialized = run(Attention::kMaterialized, Recompute::kNone);
      // got computes want's function to `tol` (loss, and gradients against want's largest), not with its bits
      auto expect_near_not_equal = [&](const Run& got, const Run& want, double tol, const char* why) {
        EXPECT_NEAR(got.loss, want.loss, tol * want.loss) << what;
        float largest = 0, worst = 0;
        for (size_t i = 0; i < want.grads.size(); ++i) {
          largest = std::max(largest, std::abs(want.grads[i]));
          worst = std::max(worst, std::abs(got.grads[i] - want.grads[i]));
        }
        EXPECT_LT(worst, static_cast<float>(tol) * largest) << what;
        EXPECT_NE(got.grads, want.grads) << what << ": the same bits: " << why;
      };
      auto expect_same = [&](const Run& got, const Run& want) {  // bit for bit
        EXPECT_EQ(got.loss, want.loss) << what;
        EXPECT_EQ(got.grads, want.grads) << what;
      };
      const Run flash = run(Attention::kFlash, Recompute::kNone);
      expect_near_not_equal(flash, materialized, 1e-5, "is flash attention running?");
      EXPECT_LT(flash.bytes, materialized.bytes) << what;

      const Run selective = run(Attention::kFlash, Recompute::kSelective);
      expect_same(selective, flash);
      EXPECT_EQ(selective.bytes, flash.bytes) << what;
      const Run full = run(Attention::kFlash, Recompute::kFull);
      expect_same(full, flash);
      EXPECT_LT(full.bytes, flash.bytes) << what;

      // bf16 operands (train.attention = "cudnn"; here the CPU's rounding around the flash op): near flash, not its
      // bits, with the bf16 copies of attention's operands in the plan; recomputation gives its bits again
      const Run cudnn = run(Attention::kCudnn, Recompute::kNone);
      expect_near_not_equal(cudnn, flash, 1e-2, "is the bf16 rounding there?");
      EXPECT_GT(cudnn.bytes, flash.bytes) << what;
      const Run cudnn_full = run(Attention::kCudnn, Recompute::kFull);
      expect_same(cudnn_full, cudnn);
    }
  }
}

// train.dtype = "bf16": bf16 matrix-product operands, fp32 masters and accumulation. 20 AdamW steps track the fp32
// run's losses within 1e-2 (not bit for bit: the rounding is there), the model learns, the plan counts the bf16
// products' scratch, and parameters written through params() reach the next forward (the bf16 copy is made again).
TEST(Model, Bf16TrainsLikeFp32) {
  for (const char* family : {"gpt2", "llama"}) {
    for (const Objective objective : {Objective::kCausal, Objective::kMasked}) {
      ModelConfig m;
      m.family = family;
      m.apply_family_defaults();
      m.vocab_size = 300;
      m.max_seq_len = 32;
      m.n_layer = 2;
      m.n_head = 4;
      m.n_kv_head = 2;
      m.d_model = 64;
      m.objective = objective;
      m.mask_token_id = 299;
      const int B = 4, Tn = 32, N = B * Tn;
      Rng rng(5, 0);
      std::vector<int32_t> tokens(N), targets(N);
      for (int i = 0; i < N; ++i) tokens[i] = static_cast<int32_t>(rng.below(40));  // a small alphabet: learnable
      for (int i = 0; i < N; ++i) {
        const bool masked = objective == Objective::kMasked && i % 7 == 3;
        targets[i] = objective == Objective::kCausal ? ((i + 1) % Tn == 0 ? -1 : tokens[i + 1])
                     : masked                        ? tokens[i]
                                                     : -1;
        if (masked) tokens[i] = m.mask_token_id;
      }
      const auto targeted =
          static_cast<float>(std::count_if(targets.begin(), targets.end(), [](int t) { return t >= 0; }));
      auto run = [&](DType dtype) {
        ModelShard shard;
        shard.dtype = dtype;
        Transformer<float> model(m, B, Tn, nullptr, shard);
        EXPECT_EQ(Transformer<float>::sizes(m, B, Tn, shard).activation_elements * static_cast<int64_t>(sizeof(float)),
                  model.activation_bytes());
        model.init_weights(3);
        AdamW optimizer(model.table(), AdamWConfig{});
        std::vector<double> losses;
        for (int step = 0; step < 20; ++step) {
          model.zero_grads();
          losses.push_back(model.forward_backward(tokens.data(), targets.data(), B, Tn, 1.0F / targeted) / targeted);
          optimizer.step(model.params(), model.grads(), 3e-3F);
        }
        return losses;
      };
      const std::string what = std::string(family) + " " + to_string(objective);
      const std::vector<double> fp32 = run(DType::kFp32), bf16 = run(DType::kBf16);
      for (size_t i = 0; i < fp32.size(); ++i)
        EXPECT_NEAR(bf16[i], fp32[i], 1e-2 * fp32[i]) << what << " step " << i + 1;
      EXPECT_NE(bf16, fp32) << what << ": the same bits: are the operands rounded?";
      EXPECT_LT(bf16.back(), 0.8 * bf16.front()) << what;
      ModelShard shard;
      shard.dtype = DType::kBf16;
      EXPECT_GT(Transformer<float>::sizes(m, B, Tn, shard).activation_elements,
                Transformer<float>::sizes(m, B, Tn).activation_elements);

      // weights written through params() after a forward: the next forward uses them
      Transformer<float> a(m, B, Tn, nullptr, shard), b(m, B, Tn, nullptr, shard);
      a.init_weights(3);
      b.init_weights(4);
      const double a_loss = a.forward(tokens.data(), targets.data(), B, Tn);
      const double b_loss = b.forward(tokens.data(), targets.data(), B, Tn);
      std::copy(b.params(), b.params() + b.flat_size(), a.params());
      EXPECT_EQ(a.forward(tokens.data(), targets.data(), B, Tn), b_loss) << what;
      EXPECT_NE(a_loss, b_loss) << what;
    }
  }
}

}  // namespace
}  // namespace tessera
