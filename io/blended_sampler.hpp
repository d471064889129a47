// Several datasets blended by weights (Megatron-style), as one stream of global samples.
//
// The global order is cut into blocks of kBlock samples; in every block dataset d supplies round(w_d * kBlock)
// samples (largest remainders; a weight too small for one sample per block is an error), interleaved by Megatron's
// greedy rule (the next sample comes from the dataset furthest behind its share). So which dataset global sample k
// comes from, and which of that dataset's samples it is, are functions of k alone: nothing to save but the number of
// samples consumed, any dp resumes at the same sample, and every rank agrees without communicating. Each dataset
// runs through its own epochs (its own seeded permutation per epoch), so a small dataset with a large weight repeats.
// One dataset: its Sampler, sample for sample.
#pragma once

#include <cstdint>
#include <vector>

#include "io/sampler.hpp"
#include "io/token_dataset.hpp"

namespace tessera {

class BlendedSampler {
 public:
  static constexpr int64_t kBlock = int64_t{1} << 16;

  // weights: one per dataset, positive (normalised here). Throws tessera::Error for a bad weight or a dataset with
  // no sequence of seq_len + 1 tokens.
  BlendedSampler(const std::vector<const TokenDataset*>& data, std::vector<double> weights, int seq_len, uint64_t seed,
                 bool shuffle);

  int seq_len() const { return samplers_.front().seq_len(); }
  int datasets() const { return static_cast<int>(samplers_.size()); }
  // Samples in one pass over every dataset (for evaluation and the log).
  int64_t samples_per_epoch() const;
  // T + 1 tokens of global sample k, and (mask not null) their loss mask (1s for data without one).
  void read(int64_t k, int32_t* out, uint8_t* mask = nullptr);
  // Whether any dataset holds a loss mask (fine-tuning pairs).
  bool has_loss_mask() const {
    for (const Sampler& s : samplers_)
      if (s.has_loss_mask()) return true;
    return false;
  }
  // Which dataset global sample k comes from, and which of that dataset's samples it is.
  int dataset_of(int64_t k) const;
  int64_t index_in_dataset(int64_t k) const;

 private:
  std::vector<Sampler> samplers_;
  int64_t block_ = 1;
  std::vector<uint16_t> pattern_;        // dataset of each position of a block
  std::vector<uint32_t> rank_in_block_;  // how many samples of that dataset come before it in the block
  std::vector<int64_t> per_block_;       // samples of each dataset in a block
};

}  // namespace tessera
