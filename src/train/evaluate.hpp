// Validation loss: the mean loss per targeted position over the first `max_samples` samples of a split (all of
// them for 0), in order, shared across the data-parallel group (sample j on rank j % dp).
#pragma once

#include <cstdint>
#include <functional>

#include "io/blended_sampler.hpp"
#include "model/transformer.hpp"
#include "parallel/process_group.hpp"
#include "train/batch.hpp"

namespace tessera {

struct EvalResult {
  double loss = 0;
  int64_t positions = 0;  // targeted positions counted
  int64_t samples = 0;
};

// on_batch (optional) is called after every forward: progress, for the watchdog.
// Collective over dp and pp (the pipeline carries each batch through the stages).
EvalResult evaluate_loss(Transformer<float>& model, BlendedSampler& sampler, const BatchBuilder& batches, uint64_t salt,
                         const ProcessGroup& dp, const ProcessGroup& pp, int64_t max_samples,
                         const std::function<void()>& on_batch = {}, const Communicator* pp_data = nullptr);

}  // namespace tessera
