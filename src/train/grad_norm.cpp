#include "train/grad_norm.hpp"

#include <algorithm>
#include <cmath>

#include "core/check.hpp"
#include "ops/ops.hpp"

namespace tessera {

GradNorm::GradNorm(const TensorTable& table, int tensors_in_model)
    : table_(table), sums_(static_cast<size_t>(tensors_in_model), 0.0) {
  for (const TensorInfo& info : table.entries())
    TESSERA_CHECK(info.global_index >= 0 && info.global_index < tensors_in_model, "tensor {}: global index {} of {}",
                  info.name, info.global_index, tensors_in_model);
}

double GradNorm::compute(const float* grads, const Communicator& tp, const Communicator& pp) {
  std::fill(sums_.begin(), sums_.end(), 0.0);
  for (const TensorInfo& info : table_.entries()) {
    if (info.tp_duplicated() && tp.rank() != 0) continue;  // counted once, by tp rank 0
    if (info.pp_copy) continue;                            // counted by the stage that owns it
    sums_[static_cast<size_t>(info.global_index)] = ops::sum_squares(grads + info.offset, info.numel);
  }
  const auto n = static_cast<int64_t>(sums_.size());
  tp.all_reduce_sum(sums_.data(), n);  // shards of a split tensor add up; other entries add zeros
  pp.all_reduce_sum(sums_.data(), n);  // each stage fills its own tensors
  double total = 0;
  for (const double s : sums_) total += s;
  return std::sqrt(total);
}

}  // namespace tessera
