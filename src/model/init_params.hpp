// The model's initial weights, drawn per tensor by its kind (TensorKind::init), the same on every layout.
#pragma once

#include <cstdint>

#include "core/tensor_table.hpp"
#include "model/model_config.hpp"

namespace tessera {

// Fills every tensor of `table` in `params` (laid out by it) by its kind, as GPT-2 does: N(0, init_std) for
// matrices and embeddings, N(0, init_std / sqrt(2 L)) for the projections into the residual stream, ones for norm
// weights, zeros for biases; rows of vocabulary padding (TensorKind::vocab_rows) stay zero. Each tensor is drawn whole
// from the stream of (seed, its name) and this shard's slice kept, so every layout starts from the same model.
template <typename T>
void init_params(const TensorTable& table, const ModelConfig& config, uint64_t seed, T* params);

}  // namespace tessera
