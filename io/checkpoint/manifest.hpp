// A checkpoint's directory and its manifest (see docs/formats.md, "Checkpoints").
//
//   RUN/                         checkpoint.dir
//     latest                     "step-00000200": the newest complete checkpoint, written last
//     step-00000100/             one complete checkpoint (renamed from .step-00000100.partial when every file is in)
//       checkpoint.json          this manifest: step, data position, layout, tokenizer, the files and their sizes
//       config.toml              the resolved run config
//       shard-tp00-pp00.h5       weights (and AdamW's moments) of tensor-parallel rank 0, pipeline rank 0
//       optim-tp00-pp00-dp000.h5 ZeRO-1: the moments owned by data-parallel rank 0 of that shard
//       tokenizer/               the tokenizer's files (encoder.json + vocab.bpe, or tokenizer.model)
//
// A manifest may come from a stranger: parse_manifest checks every field's type and range, and file names are plain
// names inside the checkpoint (no '/', no "..").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/token_dataset.hpp"

namespace tessera {

constexpr const char* kCheckpointFormat = "tessera-checkpoint";
constexpr int64_t kCheckpointFormatVersion = 1;
constexpr const char* kManifestName = "checkpoint.json";
constexpr const char* kConfigName = "config.toml";
constexpr const char* kLatestName = "latest";
constexpr const char* kTokenizerDir = "tokenizer";

// The parallel layout a checkpoint was saved with.
struct CheckpointLayout {
  int tp = 1;
  int pp = 1;
  int dp = 1;
  int virtual_stages = 1;
  std::vector<int> chunk_layers;  // layers of each of the pp * virtual_stages model chunks
  bool zero1 = false;             // the moments are stored in optim-* files, by their owners
};

// What the run trained on, to refuse resuming a run on other data by mistake.
struct DataIdentity {
  std::string tokenizer_hash;
  int64_t train_tokens = 0;
  int64_t train_documents = 0;
};

struct CheckpointFile {
  std::string name;  // a plain file name inside the checkpoint directory
  int64_t bytes = 0;
};

struct CheckpointManifest {
  int64_t step = 0;              // optimizer steps done
  int64_t consumed_samples = 0;  // training sequences read: the sampler's whole state
  int64_t tokens = 0;            // training tokens read
  uint64_t seed = 0;             // train.seed: every random draw is keyed by (seed, sample index)
  int64_t optimizer_steps = 0;   // AdamW's step count (bias correction)
  int64_t skipped_steps = 0;     // steps skipped for a non-finite loss or gradient norm
  bool optimizer_state = true;   // AdamW's moments are stored
  CheckpointLayout layout;
  TokenizerInfo tokenizer;                   // files: "" (the checkpoint's tokenizer/ directory is used)
  std::vector<std::string> tokenizer_files;  // names in tokenizer/
  DataIdentity data;
  std::vector<CheckpointFile> files;  // every HDF5 file of the checkpoint
  std::string created;                // UTC time of the save
  std::string writer;                 // "tessera 0.1.0 (commit)"
};

std::string manifest_to_json(const CheckpointManifest& manifest);
// Throws tessera::Error naming `source` and the field on malformed JSON, a missing field, a wrong type or a value out
// of range.
CheckpointManifest parse_manifest(const std::string& text, const std::string& source);

std::string step_dir_name(int64_t step);  // "step-00000100"
std::string shard_file_name(int tp_rank, int pp_rank);
std::string optimizer_file_name(int tp_rank, int pp_rank, int dp_rank);

// True if dir holds a checkpoint's manifest.
bool is_checkpoint_dir(const std::string& dir);
// The complete checkpoints (a manifest inside) of a run directory, by step, oldest first.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir);
// The checkpoint a run directory's `latest` names; without `latest`, its newest complete checkpoint; nullopt when it
// holds none. Throws tessera::Error when `latest` is unreadable or names a directory that is not a checkpoint.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// A checkpoint directory, or a run directory (its latest checkpoint). Throws tessera::Error naming the path when it
// is neither.
std::string resolve_checkpoint(const std::string& path);

}  // namespace tessera
