#include "train/gather_model.hpp"

#include "core/check.hpp"

namespace tessera {

namespace {
// Places every tensor of a shard (laid out by `table`) into the whole model.
void place_shard(const TensorTable& table, const float* flat, const TensorTable& whole_table, float* whole) {
  for (const TensorInfo& info : table.entries()) {
    const int w = whole_table.find(info.name);
    TESSERA_CHECK(w >= 0, "tensor {} is not in the whole model", info.name);
    const TensorInfo& g = whole_table[w];
    copy_from_shard(info, flat + info.offset, g.shape, whole + g.offset);
  }
}
}  // namespace

std::vector<float> gather_model(const Transformer<float>& model, const TensorTable& whole_table,
                                const ProcessGroup& tp) {
  const TensorTable& table = model.table();
  if (tp.rank() != 0) {
    tp.send(model.params(), table.total(), 0);
    return {};
  }
  std::vector<float> whole(static_cast<size_t>(whole_table.total()), 0.0F);
  place_shard(table, model.params(), whole_table, whole.data());
  std::vector<float> other(static_cast<size_t>(table.total()));
  for (int r = 1; r < tp.size(); ++r) {
    // every tp rank's table has the same size (equal slices), laid out as plan_table says for its rank
    const TensorTable other_table = Transformer<float>::plan_table(model.config(), {r, tp.size()});
    TESSERA_CHECK(other_table.total() == table.total(), "tp rank {} holds {} elements, rank 0 {}", r,
                  other_table.total(), table.total());
    tp.recv(other.data(), other_table.total(), r);
    place_shard(other_table, other.data(), whole_table, whole.data());
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
