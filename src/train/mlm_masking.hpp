// Masked-LM input corruption (BERT): select a fraction of positions; of those, replace most by the mask token,
// some by a random token and keep the rest; the loss is taken at the selected positions only.
#pragma once

#include <cstdint>

#include "core/rng.hpp"

namespace tessera {

struct MlmMasking {
  float select = 0.15F;         // fraction of positions that carry a loss
  float replace_mask = 0.8F;    // of the selected: replaced by mask_id
  float replace_random = 0.1F;  // of the selected: replaced by a random token in [0, random_vocab); the rest kept
  int32_t mask_id = -1;
  int32_t random_vocab = 0;  // random replacements are drawn from the ordinary tokens [0, random_vocab)
};

// In place on tokens (n); writes targets (n): the original token at selected positions, -1 elsewhere.
// At least one position of the sequence is selected. Returns the number selected.
int apply_mlm_masking(int32_t* tokens, int32_t* targets, int n, const MlmMasking& masking, Rng& rng);

}  // namespace tessera
