// Runs a pipeline schedule (parallel/pipeline_schedules.hpp) on this rank's model chunks: activations forward and
// gradients backward between stages (parallel/p2p.hpp), the loss on the rank that holds the head. The same code
// runs the single-rank case (one chunk, no messages).
//
// Deadlock freedom: at the start of a step every message this rank will receive has its receive posted, into a
// buffer of its own (one per chunk and micro-batch, allocated once), in the order its peers send them (so messages
// without tags, NCCL's, match too). Sends are non-blocking, so a send always finds its receive, and a rank only ever
// waits for data that a schedule (a valid order, checked by simulation in the rank grid tests) produces before it
// needs it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/communicator.hpp"
#include "model/transformer.hpp"
#include "parallel/pipeline_schedules.hpp"

namespace tessera {

// One step's micro-batches on this rank: inputs and targets (m, B, T).
struct MicroBatches {
  const int32_t* inputs = nullptr;
  const int32_t* targets = nullptr;
  int m = 0;
  int B = 0;
  int T = 0;
};

class PipelineRunner {
 public:
  // Runs `schedule` over m micro-batches on the model's pipeline rank (ModelShard: pp, pp_rank, virtual_stages).
  // Allocates the receive buffers.
  PipelineRunner(Transformer<float>& model, PipelineSchedule schedule, int m, const Communicator& pp);
  // Elements of the receive buffers a rank with these chunks needs (for the memory plan); message: the elements of
  // one micro-batch's activations between stages (Transformer::boundary_elements).
  static int64_t buffer_elements(const std::vector<ChunkRange>& chunks, int m, int64_t message);

  // Forward and backward of every micro-batch (gradients accumulate, scaled by dloss). Returns the loss sum over
  // the micro-batches on the rank that holds the head (added on the device, read once at the end), 0 elsewhere.
  // Collective over pp.
  double step(const MicroBatches& batches, float dloss);
  // Seconds the last step spent waiting for activations and gradients from other stages (the pipeline's bubble,
  // plus transfer time), and the whole step.
  double last_wait_seconds() const { return wait_s_; }
  double last_step_seconds() const { return step_s_; }

 private:
  Transformer<float>& model_;
  PipelineOrder order_;                    // this rank's forwards and backwards
  std::vector<PipelineMessage> receives_;  // what it receives, in its peers' order of sends (receive_order)
  int m_;
  const Communicator& pp_;
  int64_t n_;  // elements of one micro-batch's activations, (B, T, C)
  // in the model's backend memory
  std::vector<DeviceBuffer<float>> inbox_;          // received activations, per chunk that does not embed: (m, B, T, C)
  std::vector<DeviceBuffer<float>> grad_inbox_;     // received gradients, per chunk that is not the head: (m, B, T, C)
  std::vector<Request> received_;                   // per (chunk, micro-batch): the forward input
  std::vector<Request> grads_in_;                   // per (chunk, micro-batch): the output's gradient
  std::vector<std::vector<Request>> sent_forward_;  // per (chunk, slot)
  std::vector<std::vector<int>> free_slots_;        // per chunk
  std::vector<std::vector<int>> slot_of_;           // per (chunk, micro-batch)
  double wait_s_ = 0, step_s_ = 0;
};

// Forward only (evaluation): each micro-batch through every chunk in turn, in slot 0. Returns the loss sum on the
// rank that holds the head, 0 elsewhere. Collective over pp.
double run_pipeline_forward(Transformer<float>& model, const MicroBatches& batches, const Communicator& pp);

}  // namespace tessera
