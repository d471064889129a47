// The Communicator of a group of one rank for device buffers: SelfCommunicator's semantics (collectives return at
// once; all-gather and reduce-scatter copy, through Backend::copy on the compute stream; point-to-point calls are a
// schedule's bug), with no NCCL communicator behind it. A single-GPU run's groups are all of one rank, and so are
// most of a layout's embedding groups and its tp, pp or dp groups of size 1: NCCL's set-up (topology detection, its
// buffers in GPU memory) is not paid for them.
#pragma once

#include <memory>

#include "backend/backend.hpp"
#include "core/communicator.hpp"

namespace tessera {

// `backend` must outlive the communicator.
std::unique_ptr<Communicator> make_device_self_communicator(Backend& backend);

}  // namespace tessera
