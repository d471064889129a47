#include "io/checkpoint/weight_source.hpp"

#include "io/checkpoint/reader.hpp"
#include "io/hf/import.hpp"

namespace tessera {

std::unique_ptr<WeightSource> open_weights(const std::string& path) {
  if (is_hf_dir(path)) return std::make_unique<HfCheckpoint>(path);
  return std::make_unique<CheckpointReader>(path);
}

}  // namespace tessera
