#include "train/mlm_masking.hpp"

#include "core/check.hpp"

namespace tessera {

int apply_mlm_masking(int32_t* tokens, int32_t* targets, int n, const MlmMasking& masking, Rng& rng) {
  TESSERA_CHECK(masking.mask_id >= 0 && masking.random_vocab > 0, "MLM masking needs a mask id and a vocabulary");
  int selected = 0;
  for (int i = 0; i < n; ++i) {
    targets[i] = -1;
    if (rng.uniform() < masking.select) {
      targets[i] = tokens[i];
      ++selected;
    }
  }
  if (selected == 0) {  // every sequence contributes: a batch never has zero targets
    const auto i = static_cast<int>(rng.below(static_cast<uint64_t>(n)));
    targets[i] = tokens[i];
    selected = 1;
  }
  for (int i = 0; i < n; ++i) {
    if (targets[i] < 0) continue;
    const double u = rng.uniform();
    if (u < masking.replace_mask) {
      tokens[i] = masking.mask_id;
    } else if (u < masking.replace_mask + masking.replace_random) {
      tokens[i] = static_cast<int32_t>(rng.below(static_cast<uint64_t>(masking.random_vocab)));
    }
  }
  return selected;
}

}  // namespace tessera
