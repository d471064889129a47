// Where a model's weights come from: a tessera checkpoint (io/checkpoint/reader.hpp) or a Hugging Face directory
// (io/hf/import.hpp), read into a model shard of any layout. Every verb that reads a model (generate, eval,
// info, train --init-from, convert) opens its path through open_weights, so each accepts every form.
#pragma once

#include <memory>
#include <string>

#include "config/run_config.hpp"
#include "io/checkpoint/manifest.hpp"
#include "io/checkpoint/shard_file.hpp"

namespace tessera {

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  // The directory read (a checkpoint's, or the Hugging Face model's).
  virtual const std::string& dir() const = 0;
  // Step, data position, layout and tokenizer (a Hugging Face model: step 0, no optimizer state).
  virtual const CheckpointManifest& manifest() const = 0;
  // The run config (a Hugging Face model: the defaults with its [model]), the model finalised.
  virtual const RunConfig& config() const = 0;
  // The tokenizer, its files where they lie.
  virtual TokenizerInfo tokenizer() const = 0;
  // Bytes of the weight files.
  virtual int64_t bytes() const = 0;
  // Fills every tensor of `table` (a shard of the same model in any layout) with the weights or moments. Throws
  // tessera::Error naming the file and tensor.
  virtual void read(StateKind kind, const TensorTable& table, float* flat) const = 0;
};

// A Hugging Face directory, a checkpoint directory, or a run directory (its latest checkpoint). Throws
// tessera::Error naming the path.
std::unique_ptr<WeightSource> open_weights(const std::string& path);

}  // namespace tessera
