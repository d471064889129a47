#include "model/init_params.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/rng.hpp"

namespace tessera {

template <typename T>
void init_params(const TensorTable& table, const ModelConfig& m, uint64_t seed, T* params) {
  const double residual_std = m.init_std / std::sqrt(2.0 * m.n_layer);
  std::vector<T> whole;  // a split tensor is drawn whole, then this rank's slice kept
  for (const TensorInfo& info : table.entries()) {
    T* p = params + info.offset;
    if (info.kind.init == TensorInit::kOnes || info.kind.init == TensorInit::kZeros) {
      std::fill(p, p + info.numel, info.kind.init == TensorInit::kOnes ? T(1) : T(0));
      continue;
    }
    const double stddev = info.kind.init == TensorInit::kResidualNormal ? residual_std : m.init_std;
    // Draw the global tensor in order from (seed, name): every layout sees the same numbers.
    const bool split = info.shards > 1;
    T* out = p;
    if (split) {
      whole.resize(static_cast<size_t>(numel(info.global_shape)));
      out = whole.data();
    }
    Rng rng(seed, stream_id(info.name));
    const int64_t rows = info.global_shape[0];
    const int64_t row = numel(info.global_shape) / rows;
    const int64_t rows_real = info.kind.vocab_rows ? m.vocab_size : rows;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < row; ++c) {
        const double z = rng.normal();
        out[r * row + c] = r < rows_real ? static_cast<T>(z * stddev) : T(0);
      }
    }
    if (split) copy_to_shard(info, whole.data(), info.global_shape, p);
  }
}

template void init_params<float>(const TensorTable&, const ModelConfig&, uint64_t, float*);
template void init_params<double>(const TensorTable&, const ModelConfig&, uint64_t, double*);

}  // namespace tessera
