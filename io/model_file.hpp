// The model state in HDF5: every tensor of the table as a dataset under /params with its global shape, plus the
// resolved run config, step and tokenizer as attributes. Written under a temporary name and renamed when complete,
// so a crash never leaves a half-written file where a good one was. (The sharded, resumable checkpoint with
// optimizer state extends this layout; see docs/formats.md.)
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor_table.hpp"
#include "io/token_dataset.hpp"

namespace tessera {

constexpr const char* kModelFormat = "tessera-model";
constexpr int64_t kModelFormatVersion = 1;

struct ModelFileMeta {
  std::string config_toml;  // the resolved run config
  int64_t step = 0;
  int64_t consumed_samples = 0;
  TokenizerInfo tokenizer;
};

void save_model(const std::string& path, const TensorTable& table, const float* params, const ModelFileMeta& meta);

// Reads the metadata only (to build the model before loading weights).
ModelFileMeta read_model_meta(const std::string& path);
// Fills params (laid out by table) from the file; throws tessera::Error naming the tensor on a missing tensor or a
// shape mismatch.
void load_model(const std::string& path, const TensorTable& table, float* params);

}  // namespace tessera
