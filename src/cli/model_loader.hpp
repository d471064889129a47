// A trained model read back from a checkpoint or a Hugging Face directory, with its config and tokenizer.
#pragma once

#include <memory>
#include <string>

#include "config/run_config.hpp"
#include "io/checkpoint/weight_source.hpp"
#include "io/tokenizer.hpp"
#include "model/transformer.hpp"

namespace tessera::cli {

struct LoadedModel {
  std::string dir;  // the checkpoint (or Hugging Face model) directory
  int max_batch = 1;
  RunConfig config;
  int64_t step = 0;
  int64_t consumed_samples = 0;
  TokenizerInfo tokenizer;  // its files: the checkpoint's copy
  std::unique_ptr<WeightSource> reader;
  std::unique_ptr<Backend> backend;  // where the model lives (set before load_weights; null: the CPU)
  std::unique_ptr<Transformer<float>> model;
};

// Opens a checkpoint and checks its model can be loaded here as the layout says (shard.tp and shard.pp: memory, the
// split of heads and layers), without loading weights: what every rank can check before any communication. Throws
// tessera::Error naming the file.
LoadedModel inspect_trained_model(const std::string& path, int max_batch, const ModelShard& layout = {});
// Builds this rank's shard of an inspected model (tp: its tensor-parallel group, nullptr for one rank) on
// model.backend (null: the CPU; tp carries that backend's buffers) and reads its weights (from a checkpoint of any
// layout; to a GPU through host memory).
void load_weights(LoadedModel& model, const Communicator* tp, const ModelShard& shard = {});

// Both: path: a checkpoint directory, a run directory (its latest checkpoint) or a Hugging Face directory. max_batch:
// sequences per forward. tp: the tensor-parallel group that holds the model together (nullptr: this process alone);
// each rank keeps its slice.
LoadedModel load_trained_model(const std::string& path, int max_batch, const Communicator* tp = nullptr);
// The tokenizer the model was trained with (its files from `files_override` if given).
std::unique_ptr<Tokenizer> load_model_tokenizer(const TokenizerInfo& info, const std::string& files_override);

}  // namespace tessera::cli
