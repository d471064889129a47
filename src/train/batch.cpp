#include "train/batch.hpp"

#include <algorithm>

#include "core/rng.hpp"

namespace tessera {

int64_t BatchBuilder::make(const int32_t* seq, int T, uint64_t stream, int32_t* inputs, int32_t* targets,
                           const uint8_t* mask) const {
  std::copy(seq, seq + T, inputs);
  if (objective_ == Objective::kCausal) {
    std::copy(seq + 1, seq + T + 1, targets);
    if (mask == nullptr) return T;
    int64_t targeted = 0;
    for (int i = 0; i < T; ++i) {
      if (mask[i + 1] == 0) targets[i] = -1;
      targeted += mask[i + 1];
    }
    return targeted;
  }
  Rng rng(seed_, stream);
  return apply_mlm_masking(inputs, targets, T, masking_, rng);
}

}  // namespace tessera
