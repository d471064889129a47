// From a sampled sequence of T + 1 tokens to model inputs and targets, per objective:
//   clm: inputs = seq[0, T), targets = seq[1, T] (fine-tuning data: only where the target is a response token)
//   mlm: inputs = seq[0, T) with BERT masking, targets = the original token at the selected positions, else -1
// MLM draws come from the stream of the sample's global index, so every layout masks a sample the same way.
#pragma once

#include <cstdint>

#include "model/model_config.hpp"
#include "train/mlm_masking.hpp"

namespace tessera {

class BatchBuilder {
 public:
  BatchBuilder(Objective objective, const MlmMasking& masking, uint64_t seed)
      : objective_(objective), masking_(masking), seed_(seed) {}

  // seq: (T + 1); inputs, targets: (T). `stream` names the sample (its global index, salted per split). mask (T + 1,
  // or null): the loss mask of fine-tuning data; a position whose target token has mask 0 (a prompt token) is not
  // targeted. Returns the number of targeted positions.
  int64_t make(const int32_t* seq, int T, uint64_t stream, int32_t* inputs, int32_t* targets,
               const uint8_t* mask = nullptr) const;

 private:
  Objective objective_;
  MlmMasking masking_;
  uint64_t seed_;
};

// The global sample that row i of micro-batch m holds on data-parallel rank `rank` in a step that starts after
// `consumed` samples: the global batch of a step is the next global_batch samples, and rank r takes every dp-th of
// them. A resumed run (any dp, any global batch) continues at the consumed samples its checkpoint stores.
inline int64_t global_sample(int64_t consumed, int micro_batch, int m, int i, int dp, int rank) {
  return consumed + (static_cast<int64_t>(m) * micro_batch + i) * dp + rank;
}

// Stream salts, so that the training and validation splits never share MLM draws.
constexpr uint64_t kTrainStream = 0x7472000000000000ULL;
constexpr uint64_t kValStream = 0x7661000000000000ULL;

}  // namespace tessera
