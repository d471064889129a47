// The communicators that carry a rank's device buffers (activations, gradients, parameters) over its process groups:
// on the CPU backend the process groups themselves (MPI); on the CUDA backend one NCCL communicator per group. The
// process groups keep the control traffic in host memory (loss sums, norms, flags, agreement) either way.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.hpp"
#include "core/communicator.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

class DeviceGroups {
 public:
  // Collective over each group (on CUDA every rank of a group joins its NCCL communicator).
  DeviceGroups(Backend& backend, const ProcessGroup& tp, const ProcessGroup& pp, const ProcessGroup& dp,
               const ProcessGroup& embedding);

  const Communicator& tp() const { return *tp_; }
  const Communicator& pp() const { return *pp_; }
  const Communicator& dp() const { return *dp_; }
  const Communicator& embedding() const { return *embedding_; }

 private:
  const Communicator* join(Backend& backend, const ProcessGroup& group);
  std::vector<std::unique_ptr<Communicator>> owned_;  // the NCCL communicators
  const Communicator *tp_, *pp_, *dp_, *embedding_;
};

}  // namespace tessera
