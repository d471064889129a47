#include "io/sampler.hpp"

#include <algorithm>
#include <numeric>

#include "core/check.hpp"
#include "core/rng.hpp"

namespace tessera {

Sampler::Sampler(const TokenDataset& data, int seq_len, uint64_t seed, bool shuffle)
    : data_(data), seq_len_(seq_len), seed_(seed), shuffle_(shuffle) {
  first_sample_.push_back(0);
  for (int s = 0; s < data.shards(); ++s) {
    const int64_t n = data.shard_tokens(s) > seq_len ? (data.shard_tokens(s) - 1) / seq_len : 0;
    total_ += n;
    first_sample_.push_back(total_);
  }
  if (total_ > int64_t{UINT32_MAX})
    TESSERA_RAISE("{}: {} sequences of {} + 1 tokens are more than one sampler indexes (2^32 - 1); split the dataset",
                  data.path(0), total_, seq_len);
  if (total_ == 0)
    TESSERA_RAISE("{}: {} tokens hold no sequence of seq_len + 1 = {} tokens", data.path(0), data.tokens(),
                  seq_len + 1);
}

int64_t Sampler::sequence_of(int64_t k) {
  TESSERA_CHECK(k >= 0, "sample {}", k);
  const int64_t epoch = k / total_;
  if (epoch != epoch_) {
    order_.resize(static_cast<size_t>(total_));
    std::iota(order_.begin(), order_.end(), uint32_t{0});
    if (shuffle_) {  // Fisher-Yates from the epoch's own stream
      Rng rng(seed_, 0x5A3D1E00ULL + static_cast<uint64_t>(epoch));
      for (int64_t i = total_ - 1; i > 0; --i) {
        const auto j = static_cast<int64_t>(rng.below(static_cast<uint64_t>(i + 1)));
        std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
      }
    }
    epoch_ = epoch;
  }
  return static_cast<int64_t>(order_[static_cast<size_t>(k % total_)]);
}

void Sampler::read(int64_t k, int32_t* out, uint8_t* mask) {
  const int64_t sample = sequence_of(k);
  const auto it = std::upper_bound(first_sample_.begin(), first_sample_.end(), sample);
  const int shard = static_cast<int>(it - first_sample_.begin()) - 1;
  const int64_t local = sample - first_sample_[static_cast<size_t>(shard)];
  data_.read(shard, local * seq_len_, seq_len_ + 1, out);
  if (mask != nullptr) data_.read_mask(shard, local * seq_len_, seq_len_ + 1, mask);
}

}  // namespace tessera
