// Learning rate: linear warm-up, then cosine, linear or no decay to a floor.
#pragma once

#include <cstdint>
#include <string>

namespace tessera {

enum class Decay { kCosine, kLinear, kConstant };
Decay parse_decay(const std::string& name);  // "cosine" | "linear" | "constant"; throws tessera::Error
const char* to_string(Decay d);

struct LrSchedule {
  float max_lr = 6e-4F;
  float min_lr = 6e-5F;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;  // the decay ends here; later steps stay at min_lr
  Decay decay = Decay::kCosine;

  // Learning rate of step `step` (0-based):
  //   step < warmup:  max_lr * (step + 1) / warmup
  //   after:          p = (step - warmup) / (total - warmup) clipped to [0, 1]
  //                   cosine: min + (max - min) * (1 + cos(pi p)) / 2;  linear: max - (max - min) p
  float at(int64_t step) const;
};

}  // namespace tessera
