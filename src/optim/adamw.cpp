#include "optim/adamw.hpp"

#include "ops/ops.hpp"

namespace tessera {

AdamW::AdamW(const TensorTable& table, const AdamWConfig& config)
    : table_(table),
      config_(config),
      m_(static_cast<size_t>(table.total()), 0.0F),
      v_(static_cast<size_t>(table.total()), 0.0F) {}

float AdamW::decay_of(const TensorInfo& info) const {
  if (!info.weight_decay) return 0.0F;
  if (info.name.starts_with("embed.") && !config_.decay_embeddings) return 0.0F;
  return config_.weight_decay;
}

void AdamW::step(float* params, const float* grads, float lr) {
  ++t_;
  for (const TensorInfo& info : table_.entries()) {
    ops::AdamWParams p;
    p.lr = lr;
    p.beta1 = config_.beta1;
    p.beta2 = config_.beta2;
    p.eps = config_.eps;
    p.weight_decay = decay_of(info);
    p.t = t_;
    ops::adamw_update(params + info.offset, grads + info.offset, m_.data() + info.offset, v_.data() + info.offset,
                      info.numel, p);
  }
}

}  // namespace tessera
