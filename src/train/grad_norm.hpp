// The global gradient norm, the same number under every layout.
//
// Each tensor's sum of squares is taken in double on its shard; shards split across tensor-parallel ranks add up
// over the tp group, tensors duplicated on every tp rank (norms, row-parallel biases) count once (tp rank 0's), and
// pipeline stages contribute their own tensors. The sums are combined in the whole model's tensor order
// (TensorInfo::global_index), so a layout that only moves tensors between ranks gives the single-rank norm bit for
// bit. Under ZeRO-1 each data-parallel rank adds the parts of the tensors it owns.
#pragma once

#include <vector>

#include "backend/backend.hpp"
#include "core/communicator.hpp"
#include "core/tensor_table.hpp"
#include "parallel/grad_reducer.hpp"

namespace tessera {

class GradNorm {
 public:
  // table: this rank's tensors; tensors_in_model: how many tensors the whole model has; backend: the one that holds
  // the gradients (nullptr: the CPU), which must outlive it. Each tensor's sum of squares is added up on the
  // backend and read once per call.
  GradNorm(const TensorTable& table, int tensors_in_model, Backend* backend = nullptr);
  // Collective over tp and pp (the groups of this rank). grads laid out by the table, of which this rank holds the
  // reduced values in `owned` (the whole buffer without ZeRO-1). zero1_dp: under ZeRO-1 the data-parallel group,
  // over which the owners' parts add up; nullptr otherwise. The groups sum host scalars (the process groups, not
  // the device communicators).
  double compute(const float* grads, const std::vector<FlatRange>& owned, const Communicator& tp,
                 const Communicator& pp, const Communicator* zero1_dp);

 private:
  const TensorTable& table_;
  Backend* backend_;                  // the CPU backend (cpu_backend()) when none is given
  DeviceBuffer<double> device_sums_;  // per tensor of the whole model, in the backend's memory
  std::vector<double> sums_;          // per tensor of the whole model, by global index
};

}  // namespace tessera
