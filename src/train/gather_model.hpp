// The complete model from its tensor- and pipeline-parallel shards, and shards from a complete model: what model.h5
// holds is the whole model in the single-rank layout (vocabulary padded for tp = 1), the same whatever layout wrote
// it.
#pragma once

#include <vector>

#include "model/transformer.hpp"
#include "parallel/process_group.hpp"

namespace tessera {

// Collective over tp and pp (the model-parallel ranks of one data-parallel replica): returns the whole model's
// parameters laid out by whole_table (Transformer::plan_table of the config) on the rank with tp and pp rank 0, and
// an empty vector on the others.
std::vector<float> gather_model(const Transformer<float>& model, const TensorTable& whole_table, const ProcessGroup& tp,
                                const ProcessGroup& pp);

// Fills this rank's shard of every tensor from the whole model laid out by whole_table. No communication.
void scatter_model(const std::vector<float>& whole, const TensorTable& whole_table, Transformer<float>& model);

}  // namespace tessera
