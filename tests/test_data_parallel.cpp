// Data-parallel reduction under mpirun: gradient buckets start while backward runs (overlap) and sum to the whole
// buffer's all-reduce; ZeRO-1's ranges partition the buffer among the data-parallel ranks and gather back the
// parameters every rank updated.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/rng.hpp"
#include "model/transformer.hpp"
#include "parallel/grad_reducer.hpp"
#include "parallel/process_group.hpp"

namespace tessera {
namespace {

ModelConfig small_model() {
  ModelConfig m;
  m.family = "llama";
  m.apply_family_defaults();
  m.vocab_size = 300;
  m.max_seq_len = 8;
  m.n_layer = 4;
  m.n_head = 4;
  m.n_kv_head = 2;
  m.d_model = 32;
  m.d_ff = 64;
  return m;
}

// Each rank runs its own micro-batch; the reducer all-reduces (or reduce-scatters) while backward goes on.
void check_reducer(bool zero1) {
  const ProcessGroup dp = ProcessGroup::borrow(MPI_COMM_WORLD);
  const int B = 2, Tn = 8;
  Transformer<float> model(small_model(), B);
  model.init_weights(3);
  GradReducer reducer(model.table(), model.grads(), dp, 4096, zero1, {});
  ASSERT_GT(reducer.buckets(), 4);
  int started_during_backward = 0;
  model.set_grads_ready_hook([&](int first, int last) {
    reducer.tensors_ready(first, last);
    started_during_backward = reducer.started();
  });
  std::vector<int32_t> tokens(B * Tn), targets(B * Tn);
  Rng rng(17, static_cast<uint64_t>(dp.rank()));  // another batch on every rank
  for (int i = 0; i < B * Tn; ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(300));
    targets[i] = static_cast<int32_t>(rng.below(300));
  }
  // the reference: the same step on a twin without the reducer, its whole gradient all-reduced at once (the reducer's
  // buffer cannot be read while its reductions are in flight)
  Transformer<float> twin(small_model(), B);
  twin.init_weights(3);
  twin.zero_grads();
  twin.forward_backward(tokens.data(), targets.data(), B, Tn, 0.01F);
  std::vector<float> want(twin.grads(), twin.grads() + twin.flat_size());
  dp.all_reduce_sum(want.data(), static_cast<int64_t>(want.size()));

  model.zero_grads();
  reducer.start_step();
  model.forward_chunk(0, 0, tokens.data(), targets.data(), B, Tn);
  model.chunk_loss(0, 0, 0.01F, true);
  model.backward_chunk(0, 0, true);
  // every bucket but the embedding's (the last to finish) started before backward returned
  EXPECT_GE(started_during_backward, reducer.buckets() - 1);
  reducer.finish();
  for (const FlatRange& r : reducer.owned())
    for (int64_t i = r.begin; i < r.end; ++i)
      ASSERT_NEAR(model.grads()[i], want[static_cast<size_t>(i)], 1e-6F * (1 + std::abs(want[static_cast<size_t>(i)])))
          << "element " << i;
  if (!zero1) {
    ASSERT_EQ(reducer.owned().size(), 1U);
    EXPECT_EQ(reducer.owned()[0].end, model.flat_size());
    return;
  }
  // the owned ranges of all ranks partition the buffer
  std::vector<int> owner(static_cast<size_t>(model.flat_size()), 0);
  for (const FlatRange& r : reducer.owned())
    for (int64_t i = r.begin; i < r.end; ++i) owner[static_cast<size_t>(i)] = 1;
  std::vector<int> total = owner;
  MPI_Allreduce(MPI_IN_PLACE, total.data(), static_cast<int>(total.size()), MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  EXPECT_TRUE(std::all_of(total.begin(), total.end(), [](int n) { return n == 1; })) << "owned ranges overlap or miss";
  // each rank writes its rank into its owned parameters; the gather brings every owner's value everywhere
  for (const FlatRange& r : reducer.owned()) std::fill(model.params() + r.begin, model.params() + r.end, dp.rank());
  reducer.gather_params(model.params());
  std::vector<float> params(model.params(), model.params() + model.flat_size());
  std::vector<float> root = params;
  MPI_Bcast(root.data(), static_cast<int>(root.size()), MPI_FLOAT, 0, MPI_COMM_WORLD);
  EXPECT_EQ(params, root);
  for (const FlatRange& r : reducer.owned())
    EXPECT_EQ(params[static_cast<size_t>(r.begin)], static_cast<float>(dp.rank()));
}

TEST(DataParallel, BucketsOverlapBackwardAndSumLikeOneAllReduce) {
  check_reducer(false);
}

TEST(DataParallel, ZeroOneRangesPartitionTheBufferAndGatherBack) {
  check_reducer(true);
}

}  // namespace
}  // namespace tessera
