// The backend of a job's ranks, chosen alike on all of them, and the communicators that carry a rank's device buffers
// (activations, gradients, parameters) over its process groups: on the CPU backend the process groups themselves
// (MPI); on the CUDA backend one NCCL communicator per group. The process groups keep the control traffic in host
// memory (loss sums, norms, flags, agreement) either way.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "core/communicator.hpp"
#include "parallel/parallel_state.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

// The backend `device` names ("auto" | "cpu" | "cuda") on every rank of `world` (collective): "auto" must choose the
// same on every rank; on CUDA a rank takes the GPU of its node-local rank modulo the GPUs it sees. An error names
// `key` (the config key or flag that chose the device), stops every rank and leaves nothing behind.
std::unique_ptr<Backend> open_agreed_backend(const std::string& device, const ProcessGroup& world,
                                             const std::string& key);

// The communicator for device buffers over `group`: the group itself on the CPU; on CUDA, kept in `owned`, for a
// group of one rank one with no peer (comm_self_device.hpp), else a new NCCL communicator (collective over the
// group) or, where ranks of the group share a GPU (NCCL refuses that), one that stages the buffers through host
// memory over the group's MPI (comm_staged.hpp; *staged = true). force_staged: as on a GPU that the group's ranks
// share, whatever the backend (ParallelState::stage_device_traffic). point_to_point: the group carries sends and
// receives (the pipeline's), for which an NCCL communicator makes links of its own.
const Communicator& device_communicator(Backend& backend, const ProcessGroup& group,
                                        std::unique_ptr<Communicator>& owned, bool* staged = nullptr,
                                        bool force_staged = false, bool point_to_point = false);
// Each rank's Backend::device_uid, by rank of `group` (collective).
std::vector<int64_t> device_uids(const Backend& backend, const ProcessGroup& group);
// Whether two ranks of `group` compute on the same device (collective).
bool shares_a_device(const Backend& backend, const ProcessGroup& group);

class DeviceGroups {
 public:
  // Collective over each group of `ps` (on CUDA every rank of a group joins its NCCL communicator).
  DeviceGroups(Backend& backend, const ParallelState& ps);

  const Communicator& tp() const { return *tp_; }
  const Communicator& pp() const { return *pp_; }
  const Communicator& dp() const { return *dp_; }
  const Communicator& embedding() const { return *embedding_; }
  // Whether any group stages its buffers through host memory (ranks sharing a GPU).
  bool staged() const { return staged_; }

 private:
  std::unique_ptr<Communicator> owned_[4];  // the NCCL or staged communicators
  const Communicator *tp_ = nullptr, *pp_ = nullptr, *dp_ = nullptr, *embedding_ = nullptr;
  bool staged_ = false;
};

}  // namespace tessera
