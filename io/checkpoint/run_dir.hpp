// A run directory's checkpoints on disk: where a checkpoint is written before it is complete, how it is published
// (manifest, rename, `latest`, old ones removed) and what a killed save leaves behind. Used by the trainer's saves
// and by `tessera convert`.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/checkpoint/manifest.hpp"

namespace tessera {

// RUN/.step-NNNNNNNN.partial: a checkpoint being written.
std::string partial_dir(const std::string& run_dir, int64_t step);
// Removes what a killed save or prune left in a run directory (.partial, .deleting and .replaced directories, a
// `latest` being replaced).
void remove_leftovers(const std::string& run_dir);

// The tokenizer's files a checkpoint carries: (source path, name in tokenizer/). None for the byte tokenizer.
std::vector<std::pair<std::string, std::string>> tokenizer_files(const TokenizerInfo& tokenizer);
// Copies them into dir/tokenizer/.
void copy_tokenizer_files(const TokenizerInfo& tokenizer, const std::string& dir);

// Starts a checkpoint of `step` in run_dir (created if need be; a killed save's leftovers removed): makes
// RUN/.step-N.partial/ holding config.toml (config_toml) and the tokenizer's files, and returns it. The caller writes
// the shard files into it, then publishes it.
std::string begin_checkpoint(const std::string& run_dir, int64_t step, const std::string& config_toml,
                             const TokenizerInfo& tokenizer);

// Completes a checkpoint written in `partial` (every file of manifest.files in it): writes its manifest, renames it
// to RUN/step-N/ (replacing a checkpoint of the same step), points `latest` at it and removes all but the newest
// `keep` checkpoints (0: none removed). Each step is atomic and forced to disk; a kill between them leaves `latest`
// on a complete checkpoint. Returns the checkpoint's directory.
std::string publish_checkpoint(const std::string& run_dir, const std::string& partial,
                               const CheckpointManifest& manifest, int64_t keep);

}  // namespace tessera
