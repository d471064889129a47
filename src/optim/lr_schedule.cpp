#include "optim/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/check.hpp"

namespace tessera {

Decay parse_decay(const std::string& name) {
  if (name == "cosine") return Decay::kCosine;
  if (name == "linear") return Decay::kLinear;
  if (name == "constant") return Decay::kConstant;
  TESSERA_RAISE("train.lr_decay: unknown schedule \"{}\" (expected \"cosine\", \"linear\" or \"constant\")", name);
}

const char* to_string(Decay d) {
  switch (d) {
    case Decay::kCosine:
      return "cosine";
    case Decay::kLinear:
      return "linear";
    case Decay::kConstant:
      return "constant";
  }
  return "?";
}

float LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return max_lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  if (decay == Decay::kConstant) return max_lr;
  const int64_t span = std::max<int64_t>(1, total_steps - warmup_steps);
  const double p = std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  const double coeff = decay == Decay::kCosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * p)) : 1.0 - p;
  return static_cast<float>(min_lr + coeff * (max_lr - min_lr));
}

}  // namespace tessera
