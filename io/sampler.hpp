// Sequences for training: sample k of the global order is T + 1 consecutive tokens of one shard (inputs and
// next-token targets). Each epoch visits every sample once, in a permutation seeded by (seed, epoch) that is the
// same on every rank; the data-parallel rank r of a global batch takes every dp-th sample (see Trainer). The only
// state is the number of samples consumed, so a run resumes at the same global sample, whatever its dp.
#pragma once

#include <cstdint>
#include <vector>

#include "io/token_dataset.hpp"

namespace tessera {

class Sampler {
 public:
  // Throws tessera::Error if the split holds no sequence of seq_len + 1 tokens.
  Sampler(const TokenDataset& data, int seq_len, uint64_t seed, bool shuffle);

  int64_t samples_per_epoch() const { return total_; }
  int seq_len() const { return seq_len_; }
  bool has_loss_mask() const { return data_.has_loss_mask(); }
  // T + 1 tokens of global sample k (k may run past one epoch), and (mask not null) their loss mask.
  void read(int64_t k, int32_t* out, uint8_t* mask = nullptr);
  // Which sequence of the split global sample k is: its epoch's permutation at k mod samples_per_epoch.
  int64_t sequence_of(int64_t k);

 private:
  const TokenDataset& data_;
  int seq_len_;
  uint64_t seed_;
  bool shuffle_;
  std::vector<int64_t> first_sample_;  // per shard: index of its first sample (prefix sums), plus the total
  int64_t total_ = 0;
  int64_t epoch_ = -1;
  std::vector<uint32_t> order_;  // this epoch's permutation (4 bytes a sequence: 2^32 sequences at most)
};

}  // namespace tessera
