// "No allocation inside a step": a training step of the model (through the pipeline runner, two micro-batches),
// the bucketed gradient reduction and the optimizer calls operator new zero times.
// (This binary replaces the global operator new with a counting one; the C allocations of OpenBLAS's and
// OpenMP's own pools are not C++ allocations and are not counted.)
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "core/rng.hpp"
#include "model/transformer.hpp"
#include "ops/ops.hpp"
#include "optim/adamw.hpp"
#include "parallel/grad_reducer.hpp"
#include "parallel/pipeline.hpp"

namespace {
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace tessera {
namespace {

void expect_step_allocates_nothing(const char* family, Recompute recompute = Recompute::kNone,
                                   DType dtype = DType::kFp32) {
  ModelConfig m;
  m.family = family;
  m.apply_family_defaults();
  m.vocab_size = 300;
  m.max_seq_len = 32;
  m.n_layer = 2;
  m.n_head = 4;
  m.n_kv_head = 2;
  m.d_model = 32;
  ModelShard shard;
  shard.recompute = recompute;
  shard.dtype = dtype;
  Transformer<float> model(m, 4, 0, nullptr, shard);
  model.init_weights(1);
  const SelfCommunicator one;  // the groups of a single rank
  GradReducer reducer(model.table(), model.grads(), one, 1024, false, {});
  model.set_grads_ready_hook([&](int first, int last) { reducer.tensors_ready(first, last); });
  PipelineRunner runner(model, PipelineSchedule::kOneFOneB, 2, one);  // one rank: no pipeline
  AdamW opt(model.table(), AdamWConfig{});
  std::vector<int32_t> tokens(2 * 4 * 32), targets(2 * 4 * 32);
  Rng rng(1, 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(300));
    targets[i] = static_cast<int32_t>(rng.below(300));
  }
  auto step = [&] {
    model.zero_grads();
    reducer.start_step();
    runner.step({tokens.data(), targets.data(), 2, 4, 32}, 1.0F / 256);
    reducer.finish();
    const double norm = ops::sum_squares(model.grads(), model.flat_size());
    ops::scale(model.grads(), static_cast<float>(1.0 / std::max(1.0, norm)), model.flat_size());
    opt.step(model.params(), model.grads(), 1e-3F);
    model.forward(tokens.data(), targets.data(), 2, 17);  // a shorter evaluation forward
  };
  step();  // the first step may warm up runtimes (OpenMP thread pool)
  const int64_t before = g_allocations.load();
  step();
  step();
  EXPECT_EQ(g_allocations.load() - before, 0)
      << family << " (recompute " << static_cast<int>(recompute) << ", dtype " << static_cast<int>(dtype)
      << "): operator new called inside a training step";
}

TEST(Allocations, TrainingStepAllocatesNothingGpt2) {
  expect_step_allocates_nothing("gpt2");
}
TEST(Allocations, TrainingStepAllocatesNothingLlama) {
  expect_step_allocates_nothing("llama");
}

TEST(Allocations, Bf16ProductsAllocateNothing) {
  expect_step_allocates_nothing("gpt2", Recompute::kNone, DType::kBf16);
  expect_step_allocates_nothing("llama", Recompute::kFull, DType::kBf16);
}

TEST(Allocations, RecomputationAllocatesNothing) {
  expect_step_allocates_nothing("gpt2", Recompute::kSelective);
  expect_step_allocates_nothing("llama", Recompute::kFull);
}

}  // namespace
}  // namespace tessera
