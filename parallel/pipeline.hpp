// Runs a pipeline schedule (parallel/pipeline_schedules.hpp) on this rank's model chunks: activations forward and
// gradients backward between stages (parallel/p2p.hpp), the loss on the rank that holds the head. The same code
// runs the single-rank case (one chunk, no messages).
#pragma once

#include <cstdint>

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

// Forward and backward of every micro-batch in `order` (gradients accumulate, scaled by dloss). Returns the loss sum
// over the micro-batches on the rank that holds the head, 0 elsewhere. Collective over pp.
double run_pipeline(Transformer<float>& model, const PipelineOrder& order, const MicroBatches& batches, float dloss,
                    const Communicator& pp);

// Forward only (evaluation): each micro-batch through every chunk in turn. Returns the loss sum on the rank that
// holds the head, 0 elsewhere. Collective over pp.
double run_pipeline_forward(Transformer<float>& model, const MicroBatches& batches, const Communicator& pp);

}  // namespace tessera
