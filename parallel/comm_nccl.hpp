// The Communicator over NCCL, for buffers in GPU memory (comm_nccl.cpp in a build with TESSERA_CUDA, no_nccl.cpp
// without; no CUDA type in this header).
//
// One NCCL communicator per process group, bootstrapped by broadcasting an ncclUniqueId over the group's MPI
// communicator (MPI stays for control: agreement, flags, the final sums of norms). Collectives run on the
// communicator's own stream, ordered after the work already issued on the compute stream (an event) and, for the
// blocking calls, with the compute stream ordered after them: "returns" means that the next kernel on the compute
// stream, or a Backend::download, sees the result; the host does not wait. The start_* calls record an event in a
// slot; wait() orders the compute stream after it, test() asks whether it has completed. Point-to-point calls
// ignore tags (ordered_p2p()): they are held until the next wait, test or collective, which launches every held
// one in one NCCL group (a lone NCCL send waits for its receive, so two ranks that each send first would wait on
// each other). Messages between two ranks match in the order they are launched, so a caller posts each receive
// where it waits for it, in its peer's order of sends (the pipeline does so with ordered point-to-point; the
// interleaved schedules' order differs between stages, and the trainer refuses them on GPUs).
#pragma once

#include <memory>

#include "core/communicator.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

// Collective over every rank of `group`. compute_stream: the CUDA backend's stream (Backend::stream()); the calling
// rank's GPU is the current device. In a build without CUDA it throws std::runtime_error saying so.
std::unique_ptr<Communicator> make_nccl_communicator(const ProcessGroup& group, void* compute_stream);

}  // namespace tessera
