// AdamW over the flat parameter buffer, driven by the tensor table: per-tensor weight decay (none on norms and
// biases; embeddings by option), moments m and v in the same layout as the parameters.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor_table.hpp"

namespace tessera {

struct AdamWConfig {
  float beta1 = 0.9F;
  float beta2 = 0.95F;
  float eps = 1e-8F;
  float weight_decay = 0.1F;
  bool decay_embeddings = true;
};

class AdamW {
 public:
  AdamW(const TensorTable& table, const AdamWConfig& config);

  // One update with learning rate lr; counts the step (bias correction uses the count).
  void step(float* params, const float* grads, float lr);

  // The decay this tensor gets (0 for norms, biases and, unless enabled, embeddings).
  float decay_of(const TensorInfo& info) const;
  int64_t steps_taken() const { return t_; }
  std::vector<float>& m() { return m_; }
  std::vector<float>& v() { return v_; }

 private:
  const TensorTable& table_;
  AdamWConfig config_;
  int64_t t_ = 0;
  std::vector<float> m_, v_;
};

}  // namespace tessera
