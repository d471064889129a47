#include "parallel/device_groups.hpp"

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "core/check.hpp"
#include "parallel/agreement.hpp"
#include "parallel/comm_nccl.hpp"
#include "parallel/comm_self_device.hpp"
#include "parallel/comm_staged.hpp"

namespace tessera {

std::unique_ptr<Backend> open_agreed_backend(const std::string& device, const ProcessGroup& world,
                                             const std::string& key) {
  std::string resolved;
  agree_on_error(world, [&] {
    try {
      resolved = resolve_device(device);
    } catch (const std::runtime_error& e) {
      TESSERA_RAISE("{}: {}", key, e.what());
    }
  });
  int64_t on_gpu = resolved == "cuda" ? 1 : 0;  // "auto" must choose the same on every rank
  world.all_reduce_sum(&on_gpu, 1);
  if (on_gpu != 0 && on_gpu != world.size())
    TESSERA_RAISE("{} = \"{}\": {} of the {} ranks see a GPU; set {} to \"cpu\" or \"cuda\"", key, device, on_gpu,
                  world.size(), key);
  // every rank chose the same device: the node-local group (collective) only where a GPU is to be picked
  const int local_rank = resolved == "cuda" ? ProcessGroup::node_local(world).rank() : 0;
  std::unique_ptr<Backend> backend;
  agree_on_error(world, [&] {
    try {
      backend = make_backend(resolved, local_rank);
    } catch (const std::runtime_error& e) {
      TESSERA_RAISE("{} = \"{}\": {}", key, device, e.what());
    }
  });
  return backend;
}

std::vector<int64_t> device_uids(const Backend& backend, const ProcessGroup& group) {
  std::vector<int64_t> uids(static_cast<size_t>(group.size()), 0);
  uids[static_cast<size_t>(group.rank())] = static_cast<int64_t>(backend.device_uid());
  group.all_reduce_sum(uids.data(), static_cast<int64_t>(uids.size()));
  return uids;
}

bool shares_a_device(const Backend& backend, const ProcessGroup& group) {
  std::vector<int64_t> uids = device_uids(backend, group);
  std::sort(uids.begin(), uids.end());
  return std::adjacent_find(uids.begin(), uids.end()) != uids.end();
}

const Communicator& device_communicator(Backend& backend, const ProcessGroup& group,
                                        std::unique_ptr<Communicator>& owned, bool* staged, bool force_staged,
                                        bool point_to_point) {
  if (staged != nullptr) *staged = false;
  if (backend.device() == Device::kCpu && !force_staged) return group;
  if (group.size() == 1) {
    owned = make_device_self_communicator(backend);
    return *owned;
  }
  if (force_staged || shares_a_device(backend, group)) {
    owned = make_staged_communicator(group, backend);
    if (staged != nullptr) *staged = true;
  } else {
    owned = make_nccl_communicator(group, backend.stream(), point_to_point);
  }
  return *owned;
}

DeviceGroups::DeviceGroups(Backend& backend, const ParallelState& ps) {
  const ProcessGroup* groups[4] = {&ps.tp, &ps.pp, &ps.dp, &ps.embedding};
  const Communicator** comms[4] = {&tp_, &pp_, &dp_, &embedding_};
  for (size_t i = 0; i < 4; ++i) {
    bool staged = false;
    *comms[i] = &device_communicator(backend, *groups[i], owned_[i], &staged, ps.stage_device_traffic,
                                     groups[i] == &ps.pp);  // the pipeline's sends and receives
    staged_ = staged_ || staged;
  }
}

}  // namespace tessera
