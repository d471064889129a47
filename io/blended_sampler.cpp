#include "io/blended_sampler.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.hpp"

namespace tessera {

BlendedSampler::BlendedSampler(const std::vector<const TokenDataset*>& data, std::vector<double> weights, int seq_len,
                               uint64_t seed, bool shuffle) {
  TESSERA_CHECK(!data.empty() && data.size() == weights.size(), "{} datasets, {} weights", data.size(), weights.size());
  if (data.size() > 65535) TESSERA_RAISE("data: at most 65535 datasets can be blended, got {}", data.size());
  for (size_t d = 0; d < data.size(); ++d) {
    if (!(weights[d] > 0) || !std::isfinite(weights[d]))
      TESSERA_RAISE("data.weights: weight {} of {} must be a positive number", weights[d], data[d]->path(0));
    // dataset 0 keeps the run's seed, so that one dataset samples exactly as the plain Sampler
    samplers_.emplace_back(*data[d], seq_len, seed ^ (d * 0x9E3779B97F4A7C15ULL), shuffle);
  }
  const auto D = data.size();
  if (D == 1) {
    pattern_.assign(1, 0);
    rank_in_block_.assign(1, 0);
    per_block_.assign(1, 1);
    return;
  }
  block_ = kBlock;
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  for (double& w : weights) w /= total;

  // samples per block: floor of the share, then the largest remainders
  per_block_.resize(D);
  std::vector<size_t> by_remainder(D);
  int64_t given = 0;
  for (size_t d = 0; d < D; ++d) {
    per_block_[d] = static_cast<int64_t>(std::floor(weights[d] * static_cast<double>(block_)));
    given += per_block_[d];
    by_remainder[d] = d;
  }
  std::stable_sort(by_remainder.begin(), by_remainder.end(), [&](size_t a, size_t b) {
    const double ra = weights[a] * static_cast<double>(block_) - static_cast<double>(per_block_[a]);
    const double rb = weights[b] * static_cast<double>(block_) - static_cast<double>(per_block_[b]);
    return ra > rb;
  });
  for (size_t i = 0; given < block_; ++i, ++given) ++per_block_[by_remainder[i % D]];
  for (size_t d = 0; d < D; ++d) {
    if (per_block_[d] == 0)
      TESSERA_RAISE("data.weights: {} has weight {:.3g} of the blend, less than one sample in {}", data[d]->path(0),
                    weights[d], block_);
  }

  // Megatron's greedy interleaving, capped at each dataset's count so that every block is exact
  pattern_.resize(static_cast<size_t>(block_));
  rank_in_block_.resize(static_cast<size_t>(block_));
  std::vector<int64_t> taken(D, 0);
  for (int64_t i = 0; i < block_; ++i) {
    size_t best = D;
    double best_error = 0;
    for (size_t d = 0; d < D; ++d) {
      if (taken[d] == per_block_[d]) continue;
      const double error = weights[d] * static_cast<double>(i + 1) - static_cast<double>(taken[d]);
      if (best == D || error > best_error) {
        best = d;
        best_error = error;
      }
    }
    pattern_[static_cast<size_t>(i)] = static_cast<uint16_t>(best);
    rank_in_block_[static_cast<size_t>(i)] = static_cast<uint32_t>(taken[best]++);
  }
}

int64_t BlendedSampler::samples_per_epoch() const {
  int64_t n = 0;
  for (const Sampler& s : samplers_) n += s.samples_per_epoch();
  return n;
}

int BlendedSampler::dataset_of(int64_t k) const {
  TESSERA_CHECK(k >= 0, "sample {}", k);
  return pattern_[static_cast<size_t>(k % block_)];
}

int64_t BlendedSampler::index_in_dataset(int64_t k) const {
  const auto d = static_cast<size_t>(dataset_of(k));
  return (k / block_) * per_block_[d] + rank_in_block_[static_cast<size_t>(k % block_)];
}

void BlendedSampler::read(int64_t k, int32_t* out, uint8_t* mask) {
  samplers_[static_cast<size_t>(dataset_of(k))].read(index_in_dataset(k), out, mask);
}

}  // namespace tessera
