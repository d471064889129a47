#include "parallel/device_groups.hpp"

#include "parallel/comm_nccl.hpp"

namespace tessera {

DeviceGroups::DeviceGroups(Backend& backend, const ProcessGroup& tp, const ProcessGroup& pp, const ProcessGroup& dp,
                           const ProcessGroup& embedding)
    : tp_(join(backend, tp)), pp_(join(backend, pp)), dp_(join(backend, dp)), embedding_(join(backend, embedding)) {}

const Communicator* DeviceGroups::join(Backend& backend, const ProcessGroup& group) {
  if (backend.device() == Device::kCpu) return &group;
  owned_.push_back(make_nccl_communicator(group, backend.stream()));
  return owned_.back().get();
}

}  // namespace tessera
