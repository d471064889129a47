// The Communicator over NCCL, for buffers in GPU memory (comm_nccl.cpp in a build with TESSERA_CUDA, no_nccl.cpp
// without; no CUDA type in this header).
//
// One NCCL communicator per process group, bootstrapped by broadcasting an ncclUniqueId over the group's MPI
// communicator (MPI stays for control: agreement, flags, the final sums of norms). Collectives run on the
// communicator's own stream, ordered after the work already issued on the compute stream (an event) and, for the
// blocking calls, with the compute stream ordered after them: "returns" means that the next kernel on the compute
// stream, or a Backend::download, sees the result; the host does not wait. The start_* calls record an event in a
// slot; wait() orders the compute stream after it, test() asks whether it has completed. Point-to-point calls
// ignore tags (ordered_p2p()) and go over links: two-rank NCCL communicators, one each way to each neighbour on the
// group's ring, each with its own stream, made with the communicator when point_to_point is asked for. A send or a
// receive is launched at once (after the compute stream's work so far) and alone; the messages over a link fill the
// receives posted on it in order, so a caller posts its receives in the order its peer sends (the pipeline posts a
// step's receives at its start, in that order: parallel/pipeline_schedules.hpp, receive_order), and a receive that
// waits for its message holds up no send.
#pragma once

#include <memory>

#include "core/communicator.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

// Collective over every rank of `group`. compute_stream: the CUDA backend's stream (Backend::stream()); the calling
// rank's GPU is the current device. point_to_point: make the links for send and receive (between ring neighbours;
// without them a send or receive throws). In a build without CUDA it throws std::runtime_error saying so.
std::unique_ptr<Communicator> make_nccl_communicator(const ProcessGroup& group, void* compute_stream,
                                                     bool point_to_point);

}  // namespace tessera
