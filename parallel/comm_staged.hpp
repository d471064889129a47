// The Communicator for device buffers over MPI through host memory: for a process group whose ranks share a GPU,
// which NCCL refuses ("Duplicate GPU detected": one rank per GPU in a communicator). Each call copies its device
// buffers into host memory (Backend::download, which waits for the compute stream), runs the group's MPI call on
// them and copies the result back (Backend::upload); the non-blocking calls stage at their start and, for what they
// receive, copy back at wait() or at the test() that finds them complete. The arithmetic is MPI's on the same
// values: the results are the ProcessGroup's bit for bit. Tags are MPI's (ordered_p2p() is the group's), so every
// pipeline schedule runs. Slow (two copies per message over the bus) and meant for testing layouts on one GPU.
#pragma once

#include <memory>

#include "backend/backend.hpp"
#include "core/communicator.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

// `group` and `backend` must outlive the communicator.
std::unique_ptr<Communicator> make_staged_communicator(const ProcessGroup& group, Backend& backend);

}  // namespace tessera
