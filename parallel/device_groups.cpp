#include "parallel/device_groups.hpp"

#include <stdexcept>

#include "core/check.hpp"
#include "parallel/agreement.hpp"
#include "parallel/comm_nccl.hpp"

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

const Communicator& device_communicator(Backend& backend, const ProcessGroup& group,
                                        std::unique_ptr<Communicator>& owned) {
  if (backend.device() == Device::kCpu) return group;
  owned = make_nccl_communicator(group, backend.stream());
  return *owned;
}

DeviceGroups::DeviceGroups(Backend& backend, const ProcessGroup& tp, const ProcessGroup& pp, const ProcessGroup& dp,
                           const ProcessGroup& embedding)
    : tp_(&device_communicator(backend, tp, owned_[0])),
      pp_(&device_communicator(backend, pp, owned_[1])),
      dp_(&device_communicator(backend, dp, owned_[2])),
      embedding_(&device_communicator(backend, embedding, owned_[3])) {}

}  // namespace tessera
