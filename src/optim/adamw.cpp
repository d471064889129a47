#include "optim/adamw.hpp"

#include <algorithm>

#include "ops/op_table.hpp"

namespace tessera {

AdamW::AdamW(const TensorTable& table, const AdamWConfig& config, std::vector<FlatRange> owned, Backend* backend)
    : table_(table),
      config_(config),
      backend_(backend != nullptr ? backend : &cpu_backend()),
      owned_(std::move(owned)) {
  if (owned_.empty()) owned_.push_back({0, table.total()});
  int64_t n = 0;
  for (const FlatRange& r : owned_) n += r.end - r.begin;
  m_ = DeviceBuffer<float>(*backend_, n);
  v_ = DeviceBuffer<float>(*backend_, n);
  m_.zero();
  v_.zero();
}

float AdamW::decay_of(const TensorInfo& info) const {
  if (!info.kind.weight_decay) return 0.0F;
  if (info.kind.embedding && !config_.decay_embeddings) return 0.0F;
  return config_.weight_decay;
}

void AdamW::step(float* params, const float* grads, float lr) {
  ++t_;
  int64_t state = 0;  // where the current owned range's state starts
  size_t t = 0;       // tensors and ranges are both in flat order
  const std::vector<TensorInfo>& tensors = table_.entries();
  for (const FlatRange& r : owned_) {
    while (t < tensors.size() && tensors[t].offset + tensors[t].numel <= r.begin) ++t;
    for (size_t k = t; k < tensors.size() && tensors[k].offset < r.end; ++k) {
      const TensorInfo& info = tensors[k];
      const int64_t b = std::max(r.begin, info.offset), e = std::min(r.end, info.offset + info.numel);
      if (b >= e) continue;
      ops::AdamWParams p;
      p.lr = lr;
      p.beta1 = config_.beta1;
      p.beta2 = config_.beta2;
      p.eps = config_.eps;
      p.weight_decay = decay_of(info);
      p.t = t_;
      const int64_t s = state + (b - r.begin);
      backend_->ops().adamw_update(params + b, grads + b, m_.data() + s, v_.data() + s, e - b, p);
    }
    state += r.end - r.begin;
  }
}

void AdamW::export_state(float* m_full, float* v_full) const {
  std::fill(m_full, m_full + table_.total(), 0.0F);
  std::fill(v_full, v_full + table_.total(), 0.0F);
  int64_t state = 0;
  for (const FlatRange& r : owned_) {
    const int64_t bytes = (r.end - r.begin) * static_cast<int64_t>(sizeof(float));
    backend_->download(m_full + r.begin, m_.data() + state, bytes);
    backend_->download(v_full + r.begin, v_.data() + state, bytes);
    state += r.end - r.begin;
  }
}

void AdamW::import_state(const float* m_full, const float* v_full, int64_t steps) {
  int64_t state = 0;
  for (const FlatRange& r : owned_) {
    const int64_t bytes = (r.end - r.begin) * static_cast<int64_t>(sizeof(float));
    backend_->upload(m_.data() + state, m_full + r.begin, bytes);
    backend_->upload(v_.data() + state, v_full + r.begin, bytes);
    state += r.end - r.begin;
  }
  t_ = steps;
}

}  // namespace tessera
