#include "train/grad_norm.hpp"

#include <algorithm>
#include <cmath>

#include "core/check.hpp"

namespace tessera {

GradNorm::GradNorm(const TensorTable& table, int tensors_in_model, Backend* backend)
    : table_(table),
      backend_(backend != nullptr ? backend : &cpu_backend()),
      device_sums_(*backend_, tensors_in_model),
      sums_(static_cast<size_t>(tensors_in_model), 0.0) {
  for (const TensorInfo& info : table.entries())
    TESSERA_CHECK(info.global_index >= 0 && info.global_index < tensors_in_model, "tensor {}: global index {} of {}",
                  info.name, info.global_index, tensors_in_model);
}

double GradNorm::compute(const float* grads, const std::vector<FlatRange>& owned, const Communicator& tp,
                         const Communicator& pp, const Communicator* zero1_dp) {
  device_sums_.zero();
  const ops::OpTable<float>& ops = backend_->ops();
  size_t r = 0;  // owned ranges and tensors are both in flat order
  for (const TensorInfo& info : table_.entries()) {
    if (info.tp_duplicated() && tp.rank() != 0) continue;  // counted once, by tp rank 0
    if (info.pp_copy) continue;                            // counted by the stage that owns it
    const int64_t begin = info.offset, end = info.offset + info.numel;
    while (r < owned.size() && owned[r].end <= begin) ++r;
    double* sum = device_sums_.data() + info.global_index;
    for (size_t k = r; k < owned.size() && owned[k].begin < end; ++k) {
      const int64_t b = std::max(begin, owned[k].begin), e = std::min(end, owned[k].end);
      if (b < e) ops.sum_squares_to(sum, grads + b, e - b);
    }
  }
  device_sums_.download(sums_.data());  // the one wait for the device
  const auto n = static_cast<int64_t>(sums_.size());
  if (zero1_dp != nullptr) zero1_dp->all_reduce_sum(sums_.data(), n);  // the owners' parts add up
  tp.all_reduce_sum(sums_.data(), n);  // shards of a split tensor add up; other entries add zeros
  pp.all_reduce_sum(sums_.data(), n);  // each stage fills its own tensors
  double total = 0;
  for (const double s : sums_) total += s;
  return std::sqrt(total);
}

}  // namespace tessera
