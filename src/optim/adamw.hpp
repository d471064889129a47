// AdamW over the flat parameter buffer, driven by the tensor table: per-tensor weight decay (none on norms and
// biases; embeddings by option), moments m and v in the layout of the parameters it owns (all of them, or under
// ZeRO-1 this data-parallel rank's ranges, packed).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.hpp"
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
  // owned: the ranges of the flat buffer this optimizer updates and keeps state for (ZeRO-1: this data-parallel
  // rank's part); empty: the whole buffer. backend: where the moments live and the update runs (nullptr: the CPU);
  // it must outlive the optimizer.
  AdamW(const TensorTable& table, const AdamWConfig& config, std::vector<FlatRange> owned = {},
        Backend* backend = nullptr);

  // One update of the owned ranges with learning rate lr (params, grads: the backend's memory); counts the step
  // (bias correction uses the count).
  void step(float* params, const float* grads, float lr);
  // Elements of state per moment (m or v).
  int64_t state_elements() const { return m_.size(); }

  // The decay this tensor gets (0 for norms, biases and, unless enabled, embeddings).
  float decay_of(const TensorInfo& info) const;
  int64_t steps_taken() const { return t_; }
  // The moments of the owned ranges, packed (state_elements() each), in the backend's memory.
  float* m() { return m_.data(); }
  float* v() { return v_.data(); }
  const float* m() const { return m_.data(); }
  const float* v() const { return v_.data(); }
  Backend& backend() const { return *backend_; }
  const std::vector<FlatRange>& owned() const { return owned_; }
  // Whether it keeps state for the whole buffer (no ZeRO-1): then m() and v() are in the parameters' layout.
  bool owns_all() const { return owned_.size() == 1 && owned_[0].begin == 0 && owned_[0].end == table_.total(); }

  // The moments in the layout of the parameters (table.total() elements each, host memory): the owned ranges
  // filled, the rest zero. What a checkpoint stores per tensor.
  void export_state(float* m_full, float* v_full) const;
  // Sets the owned ranges of the moments from host buffers in the layout of the parameters, and the step count.
  void import_state(const float* m_full, const float* v_full, int64_t steps);
  void set_steps_taken(int64_t steps) { t_ = steps; }

 private:
  const TensorTable& table_;
  AdamWConfig config_;
  Backend* backend_;  // the CPU backend (cpu_backend()) when none is given
  std::vector<FlatRange> owned_;
  int64_t t_ = 0;
  DeviceBuffer<float> m_, v_;
};

}  // namespace tessera
