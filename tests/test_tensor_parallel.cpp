// Tensor parallelism against its single-rank twin, under mpirun (2 or 4 ranks), in double precision: the sharded
// model's loss, its slice of the logits and the gradient of every shard equal the single-rank model's, sliced by
// the tensor table's partition metadata. One tensor per failure message, so a broken piece names itself: the
// column-parallel QKV and MLP linears (fused parts included: [q | k | v], [gate | up]), the row-parallel
// projections, attention with split heads (grouped-query included), the vocab-parallel embedding and head, and the
// vocab-parallel cross-entropy; and with sequence parallelism the norms on a part of the sequence, the
// all-gather/reduce-scatter pairs and the norm weights' gradients summed over tp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/rng.hpp"
#include "model/transformer.hpp"
#include "parallel/process_group.hpp"

namespace tessera {
namespace {

ModelConfig tp_config(const std::string& family, Objective objective, int tp) {
  ModelConfig m;
  m.family = family;
  m.apply_family_defaults();
  m.vocab_size = 300;  // padded to 256 * tp: every rank holds real rows at tp = 2, and at tp = 4 ranks 2-3 pad only
  m.max_seq_len = 8;
  m.n_layer = 2;
  m.n_head = 8;
  m.n_kv_head = family == "llama" ? tp : 8;  // grouped-query for llama: 8 / tp query heads share 1 kv head per rank
  m.d_model = 16;
  m.d_ff = family == "llama" ? 24 : 0;
  m.objective = objective;
  m.mask_token_id = 299;
  m.init_std = 0.3F;  // large: every path carries a visible gradient
  return m;
}

// The ranks of the world in groups of n consecutive ranks (n divides the world).
ProcessGroup groups_of(int n) {
  const ProcessGroup world = ProcessGroup::borrow(MPI_COMM_WORLD);
  std::vector<int> ranks;
  for (int r = world.rank() / n * n; r < world.rank() / n * n + n; ++r) ranks.push_back(r);
  return ProcessGroup::split(world, ranks);
}

void check_against_one_rank(const std::string& family, Objective objective, const ProcessGroup& tp, bool sp) {
  const int B = 2, Tn = 6, N = B * Tn;  // 12 rows: split evenly over 2 and 4 sequence-parallel ranks
  const ModelConfig cfg = tp_config(family, objective, tp.size());
  ModelShard shard;
  shard.sequence_parallel = sp;
  Transformer<double> one(cfg, B), split(cfg, B, 0, &tp, shard);
  one.init_weights(11);
  split.init_weights(11);
  // norms and biases away from their trivial initial values, the same on every rank
  for (Transformer<double>* model : {&one, &split}) {
    for (const TensorInfo& info : model->table().entries()) {
      if (info.name.find("norm") == std::string::npos && !info.name.ends_with(".bias")) continue;
      Rng rng(5, stream_id(info.name));
      std::vector<double> whole(static_cast<size_t>(numel(info.global_shape)));
      for (double& x : whole) x = 0.5 + 0.5 * rng.normal();
      copy_to_shard(info, whole.data(), info.global_shape, model->params() + info.offset);
    }
  }
  std::vector<int32_t> tokens(N), targets(N);
  Rng rng(3, 0);
  for (int i = 0; i < N; ++i) {
    tokens[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg.vocab_size)));
    targets[i] = i % 4 == 3 ? -1 : static_cast<int32_t>(rng.below(static_cast<uint64_t>(cfg.vocab_size)));
  }
  // logits of the forward alone, then the training step
  one.forward(tokens.data(), targets.data(), B, Tn);
  split.forward(tokens.data(), targets.data(), B, Tn);
  const LocalDims& d = split.dims();
  const int Vp1 = one.dims().Vp;
  double worst_logit = 0;
  for (int i = 0; i < N; ++i)
    for (int j = 0; j < d.Vn; ++j)
      worst_logit = std::max(worst_logit, std::abs(split.logits()[static_cast<int64_t>(i) * d.Vp + j] -
                                                   one.logits()[static_cast<int64_t>(i) * Vp1 + d.v0 + j]));
  EXPECT_LT(worst_logit, 1e-12) << family << " tp " << tp.size() << " rank " << tp.rank() << ": logits";

  one.zero_grads();
  split.zero_grads();
  const double loss_one = one.forward_backward(tokens.data(), targets.data(), B, Tn, 0.1);
  const double loss_split = split.forward_backward(tokens.data(), targets.data(), B, Tn, 0.1);
  split.reduce_sequence_parallel_grads();
  EXPECT_NEAR(loss_split, loss_one, 1e-12 * std::abs(loss_one)) << family << " tp " << tp.size();

  std::vector<double> want;
  for (const TensorInfo& info : split.table().entries()) {
    const TensorInfo& whole = one.table()[one.table().find(info.name)];
    want.assign(static_cast<size_t>(info.numel), 0.0);
    copy_to_shard(info, one.grads() + whole.offset, whole.shape, want.data());
    double worst = 0, scale = 1e-300;
    for (int64_t k = 0; k < info.numel; ++k) {
      worst = std::max(worst, std::abs(split.grads()[info.offset + k] - want[static_cast<size_t>(k)]));
      scale = std::max(scale, std::abs(want[static_cast<size_t>(k)]));
    }
    EXPECT_LT(worst, 1e-10 * std::max(1.0, scale))
        << family << " " << to_string(objective) << " tp " << tp.size() << (sp ? " sequence-parallel" : "") << " rank "
        << tp.rank() << ": gradient of " << info.name << " (split dim " << info.split_dim << ")";
    const bool padding_only = info.kind.vocab_rows && d.Vn == 0;
    if (!padding_only) {
      EXPECT_GT(scale, 1e-300) << info.name << ": a gradient of zeros checks nothing";
    }
  }
}

TEST(TensorParallel, EveryPieceMatchesItsSingleRankTwin) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  for (int tp = 2; tp <= world; tp *= 2) {
    if (world % tp != 0) continue;
    if (tp > 4) continue;  // 12 rows of the sequence-parallel test split over 2 and 4
    const ProcessGroup group = groups_of(tp);
    for (const char* family : {"gpt2", "llama"})
      for (const Objective objective : {Objective::kCausal, Objective::kMasked})
        for (const bool sp : {false, true}) check_against_one_rank(family, objective, group, sp);
  }
}

// The initial weights of a sharded model are the slices of the single-rank model's: the global tensor is drawn from
// (seed, name) and sliced, never drawn from the local shape.
TEST(TensorParallel, InitialisationSlicesTheWholeModel) {
  int world = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  const ProcessGroup group = groups_of(world);
  const ModelConfig cfg = tp_config("llama", Objective::kCausal, world);
  Transformer<float> one(cfg, 1), split(cfg, 1, 0, &group);
  one.init_weights(42);
  split.init_weights(42);
  std::vector<float> want;
  for (const TensorInfo& info : split.table().entries()) {
    const TensorInfo& whole = one.table()[one.table().find(info.name)];
    want.assign(static_cast<size_t>(info.numel), 0.0F);
    copy_to_shard(info, one.params() + whole.offset, whole.shape, want.data());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), split.params() + info.offset))
        << info.name << " on tp rank " << group.rank();
  }
}

}  // namespace
}  // namespace tessera
