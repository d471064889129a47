#include "train/gather_model.hpp"

#include "core/check.hpp"

namespace tessera {

namespace {
// Places every tensor of a shard (laid out by `table`) into a larger whole (laid out by `whole_table`); copies that
// another stage owns are left to it.
void place_shard(const TensorTable& table, const float* flat, const TensorTable& whole_table, float* whole) {
  for (const TensorInfo& info : table.entries()) {
    if (info.pp_copy) continue;
    const int w = whole_table.find(info.name);
    TESSERA_CHECK(w >= 0, "tensor {} is not in the whole model", info.name);
    const TensorInfo& g = whole_table[w];
    copy_from_shard(info, flat + info.offset, g.shape, whole + g.offset);
  }
}

// The tables of a rank's shard under another tp rank, or of its whole stage (tp = 1).
ModelShard with_tp(ModelShard shard, int tp_rank, int tp) {
  shard.tp_rank = tp_rank;
  shard.tp = tp;
  return shard;
}
}  // namespace

std::vector<float> gather_model(const Transformer<float>& model, const TensorTable& whole_table, const ProcessGroup& tp,
                                const ProcessGroup& pp) {
  const ModelConfig& config = model.config();
  const TensorTable& table = model.table();
  // 1. the tensor-parallel shards of this stage, whole, on tp rank 0 (in this stage's tp = 1 layout)
  if (tp.rank() != 0) {
    tp.send(model.params(), table.total(), 0);
    return {};
  }
  const TensorTable stage_table = Transformer<float>::plan_table(config, with_tp(model.shard(), 0, 1));
  std::vector<float> stage(static_cast<size_t>(stage_table.total()), 0.0F);
  place_shard(table, model.params(), stage_table, stage.data());
  std::vector<float> other(static_cast<size_t>(table.total()));
  for (int r = 1; r < tp.size(); ++r) {
    // every tp rank's table has the same size (equal slices), laid out as plan_table says for its rank
    const TensorTable other_table = Transformer<float>::plan_table(config, with_tp(model.shard(), r, tp.size()));
    TESSERA_CHECK(other_table.total() == table.total(), "tp rank {} holds {} elements, rank 0 {}", r,
                  other_table.total(), table.total());
    tp.recv(other.data(), other_table.total(), r);
    place_shard(other_table, other.data(), stage_table, stage.data());
  }
  // 2. the stages on pipeline rank 0
  if (pp.rank() != 0) {
    pp.send(stage.data(), stage_table.total(), 0);
    return {};
  }
  std::vector<float> whole(static_cast<size_t>(whole_table.total()), 0.0F);
  place_shard(stage_table, stage.data(), whole_table, whole.data());
  for (int p = 1; p < pp.size(); ++p) {
    ModelShard shard = with_tp(model.shard(), 0, 1);
    shard.pp_rank = p;
    const TensorTable p_table = Transformer<float>::plan_table(config, shard);
    std::vector<float> received(static_cast<size_t>(p_table.total()));
    pp.recv(received.data(), p_table.total(), p);
    place_shard(p_table, received.data(), whole_table, whole.data());
  }
  return whole;
}

void scatter_model(const std::vector<float>& whole, const TensorTable& whole_table, Transformer<float>& model) {
  TESSERA_CHECK(static_cast<int64_t>(whole.size()) == whole_table.total(), "whole model of {} elements, table {}",
                whole.size(), whole_table.total());
  for (const TensorInfo& info : model.table().entries()) {
    const int w = whole_table.find(info.name);
    TESSERA_CHECK(w >= 0, "tensor {} is not in the whole model", info.name);
    const TensorInfo& g = whole_table[w];
    copy_to_shard(info, whole.data() + g.offset, g.shape, model.params() + info.offset);
  }
}

}  // namespace tessera
