#include "train/batch.hpp"

#include <algorithm>

#include "core/rng.hpp"

namespace tessera {

int64_t BatchBuilder::make(const int32_t* seq, int T, uint64_t stream, int32_t* inputs, int32_t* targets) const {
  std::copy(seq, seq + T, inputs);
  if (objective_ == Objective::kCausal) {
    std::copy(seq + 1, seq + T + 1, targets);
    return T;
  }
  Rng rng(seed_, stream);
  return apply_mlm_masking(inputs, targets, T, masking_, rng);
}

}  // namespace tessera
